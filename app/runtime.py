"""What a running process holds: settings, the database handle, the clock and the token services."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from app.auth import TokenIssuer, TokenVerifier
from app.clock import Clock
from app.config import Settings
from app.db import Mongo
from app.members import Revocations
from app.notifications import NotificationHub
from app.sandbox_clock import SandboxClock


@dataclass
class Runtime:
    settings: Settings
    mongo: Mongo
    clock: Clock
    verifier: TokenVerifier
    issuer: TokenIssuer | None
    hub: NotificationHub
    revocations: Revocations = field(default_factory=Revocations)
    sandbox: SandboxClock | None = None  # `clock` itself, in development (app/sandbox_clock.py)

    def program_time(self, real: datetime) -> datetime:
        """A real instant (a token's issue) on the program's clock, which records revocations."""
        return real if self.sandbox is None else real + self.sandbox.offset
