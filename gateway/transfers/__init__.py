"""Transfers (转赠): a member gives a coupon to a registered friend, once; the path is recorded."""
