"""Program configuration: tiers, expiry policies, earn rules; the pure rules live here without I/O."""
