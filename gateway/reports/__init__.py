"""The reports operators read (API v1.1 "Reports"): clerks, referrals, points, members."""
