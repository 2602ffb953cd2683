"""Claims and grants: the flash-sale hot path."""
