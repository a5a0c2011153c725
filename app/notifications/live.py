"""A member's live expiry warnings: those already issued that still matter, then each new one."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

from app.clock import Clock
from app.db import Mongo, honour_cancellation
from app.notifications.hub import NotificationHub
from app.notifications.warnings import KIND, ExpiryWarning, relevant_warnings


async def expiry_warning_stream(
    mongo: Mongo, hub: NotificationHub, clock: Clock, member_id: str
) -> AsyncGenerator[ExpiryWarning, None]:
    """Subscribe before reading what was issued, so a warning written in between is not lost;
    one issued in between and also found by the read is sent once."""
    subscription = hub.subscribe(member_id)
    sent: set[tuple[datetime, int]] = set()
    try:
        for warning in await relevant_warnings(mongo, member_id, clock.now()):
            sent.add((warning.expires_at, warning.lead_days))
            yield warning
        honour_cancellation()  # the client may have left while the read above ran
        async for document in subscription:
            if document.get("kind") != KIND:
                continue
            key = (document["expires_at"], int(document["lead_days"]))
            if key in sent:
                continue
            sent.add(key)
            yield ExpiryWarning(
                member_id=member_id,
                points=int(document["points"]),
                expires_at=document["expires_at"],
                days_left=int(document["days_left"]),
                lead_days=int(document["lead_days"]),
            )
    finally:
        subscription.close()
