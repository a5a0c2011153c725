"""Members: profile, phone, tier and status."""
