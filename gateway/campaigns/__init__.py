"""Campaigns: coupon templates, their stock, lifecycle and claim links."""
