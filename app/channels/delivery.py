"""What a channel answers for one message: the outcome the outbox acts on, and the provider's own words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class Outcome(StrEnum):
    SENT = "sent"  # the provider accepted it (its id in provider_id)
    RETRY = "retry"  # transient: rate limited, provider down, timeout; try again later
    INVALID_RECIPIENT = "invalid_recipient"  # this phone / address / device token will never work
    FAILED = "failed"  # permanent for this message: template not approved, bad credentials, refused content


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    provider_id: str | None = None
    error_code: str | None = None  # the provider's own code, as it sent it
    detail: str = ""  # the provider's message, bounded to 500 characters
    retry_after: timedelta | None = None  # when the provider said how long to wait
