"""Engagement: points for showing up (daily check-in, 签到) and for things members do (activities)."""

from app.engagement.activities import ActivityResult, record_activity
from app.engagement.check_in import (
    CheckInResult,
    CheckInStatus,
    check_in,
    check_in_status,
    read_check_in,
)
from app.engagement.errors import (
    ActivitiesNotConfigured,
    ActivityLimitReached,
    ActivityUnknown,
    CheckInNotConfigured,
    EngagementRefused,
    ReferenceConflict,
)

__all__ = [
    "ActivitiesNotConfigured",
    "ActivityLimitReached",
    "ActivityResult",
    "ActivityUnknown",
    "CheckInNotConfigured",
    "CheckInResult",
    "CheckInStatus",
    "EngagementRefused",
    "ReferenceConflict",
    "check_in",
    "check_in_status",
    "record_activity",
    "read_check_in",
]
