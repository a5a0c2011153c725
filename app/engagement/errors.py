"""Refusals of check-in and activities: each carries the facts a client needs; nothing changed."""

from __future__ import annotations


class EngagementRefused(Exception):
    """An expected refusal; nothing was changed."""


class CheckInNotConfigured(EngagementRefused):
    """The program has no daily check-in (or there is no program yet)."""


class ActivitiesNotConfigured(EngagementRefused):
    """No program is configured, so no activity pays."""


class ActivityUnknown(EngagementRefused):
    """The program has no activity with this code."""

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(message or f"the program has no activity {code!r}")
        self.code = code


class ActivityLimitReached(EngagementRefused):
    """The member already did the activity as often as the program pays for (a day, or ever)."""

    def __init__(self, limit: int, period: str) -> None:
        super().__init__(f"at most {limit} times {period}")
        self.limit = limit
        self.period = period  # "a day" or "in total"


class ReferenceConflict(EngagementRefused):
    """The partner's reference was already used for another member or activity."""
