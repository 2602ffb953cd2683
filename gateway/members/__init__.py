"""Members: registration, tier and birthday."""
