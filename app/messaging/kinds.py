"""The channels a message can take and the kinds of event that become messages.

Transactional kinds tell a member about their own account (points about to expire, a tier
change, access revoked) and go out without asking; marketing kinds (a campaign) go only to a
member who consented to marketing. Each kind declares the template variables it supplies.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from app.channels import MEMBER_VARIABLES, VariableKind


class Channel(StrEnum):
    PUSH = "push"
    SMS = "sms"
    EMAIL = "email"


class EventKind(StrEnum):
    EXPIRY_WARNING = "expiry_warning"  # app/notifications/warnings.py, one per lead time
    TIER_CHANGED = "tier_changed"  # app/members/tiers.py
    ACCESS_REVOKED = "access_revoked"  # app/members/access.py: suspended or erased
    CAMPAIGN = "campaign"  # an operator's message to members (marketing)


MARKETING: frozenset[EventKind] = frozenset({EventKind.CAMPAIGN})

# Push and SMS wake a phone: they wait out the quiet hours. E-mail does not.
QUIET_CHANNELS: frozenset[Channel] = frozenset({Channel.PUSH, Channel.SMS})

_COMMON = {"name": VariableKind.TEXT, "program_name": VariableKind.TEXT}

VARIABLES: Mapping[EventKind, Mapping[str, VariableKind]] = {
    EventKind.EXPIRY_WARNING: {
        **_COMMON,
        "points": MEMBER_VARIABLES["points"],
        "expires_on": MEMBER_VARIABLES["expires_on"],
        "days_left": VariableKind.NUMBER,
    },
    EventKind.TIER_CHANGED: {
        **_COMMON,
        "tier_name": VariableKind.TEXT,
        "points": VariableKind.NUMBER,
    },
    EventKind.ACCESS_REVOKED: dict(_COMMON),
    EventKind.CAMPAIGN: {
        **_COMMON,
        "title": VariableKind.TEXT,
        "body": VariableKind.TEXT,
        "unsubscribe_url": MEMBER_VARIABLES["unsubscribe_url"],
    },
}


def is_marketing(kind: EventKind) -> bool:
    return kind in MARKETING
