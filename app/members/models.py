"""The member as stored in `members`."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class MemberStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    ERASED = "erased"


class TierOverride(BaseModel):
    """A tier set by hand (app/members/manual_tier.py): held at least until `until`."""

    model_config = ConfigDict(frozen=True)

    tier: str
    until: datetime
    note: str
    by: str
    at: datetime


class Member(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    id: str = Field(alias="_id")
    member_no: str
    name: str
    phone: str | None = None
    email: str | None = None
    birthday: date | None = None
    tier: str
    status: MemberStatus = MemberStatus.ACTIVE
    joined_at: datetime
    # When the tier last changed (tier_changes has the history); None: never since joining.
    tier_since: datetime | None = None
    tier_override: TierOverride | None = None
    referred_by: str | None = None  # the member whose referral code they signed up with
