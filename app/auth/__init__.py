"""Authentication: who is calling (principals), token issue and verification, passwords."""
