"""Redemption gateway: flash coupon claims and checkout redemptions."""
