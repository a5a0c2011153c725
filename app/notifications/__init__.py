"""Notifications: expiry warnings and events, their live fan-out, and the push/webhook outbox."""
