"""What a running process holds: settings, the database handle, the clock and the token services."""

from __future__ import annotations

from dataclasses import dataclass

from app.auth.tokens import TokenIssuer, TokenVerifier
from app.clock import Clock
from app.config import Settings
from app.db import Mongo
from app.notifications.hub import NotificationHub


@dataclass
class Runtime:
    settings: Settings
    mongo: Mongo
    clock: Clock
    verifier: TokenVerifier
    issuer: TokenIssuer | None
    hub: NotificationHub
