"""The membership programme: points rules (expiry, pending days, multipliers), tier thresholds
and rewards; one document, replaced whole, cached per process by its version."""
