"""Checkout: quotes, reservations of coupons for an order, commit, cancel, refund, expiry."""
