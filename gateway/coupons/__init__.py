"""Coupons: reads of single coupons and wallets (transfers come with the checkout work)."""
