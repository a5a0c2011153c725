"""The program's configuration as stored in the `program` collection: identity, currency, time zone, tiers."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.program.expiry import ExpiryPolicySet


class Tier(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str = Field(min_length=1, max_length=64)
    threshold: int = Field(ge=0, description="Qualifying points needed to reach the tier.")


class Program(BaseModel):
    """One brand's points program. Versioned: every change stores a new version."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, max_length=120)
    currency: str = Field(min_length=1, max_length=32, description="What the points are called.")
    timezone: str = "UTC"
    tiers: tuple[Tier, ...] = Field(min_length=1)
    expiry: ExpiryPolicySet = Field(default_factory=ExpiryPolicySet)
    warning_lead_days: tuple[int, ...] = Field(
        default=(30, 7, 1), description="How long before an expiry members are warned, in days."
    )
    version: int = Field(default=1, ge=1)
    updated_at: datetime | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("tiers")
    @classmethod
    def _ordered_tiers(cls, tiers: tuple[Tier, ...]) -> tuple[Tier, ...]:
        codes = [tier.code for tier in tiers]
        if len(set(codes)) != len(codes):
            raise ValueError("tier codes must be unique")
        if tiers[0].threshold != 0:
            raise ValueError("the first tier must have threshold 0: every member has a tier")
        if any(a.threshold >= b.threshold for a, b in zip(tiers, tiers[1:], strict=False)):
            raise ValueError("tiers must be listed by strictly increasing threshold")
        return tiers

    @field_validator("warning_lead_days")
    @classmethod
    def _lead_days(cls, leads: tuple[int, ...]) -> tuple[int, ...]:
        if not leads or any(lead < 1 or lead > 366 for lead in leads):
            raise ValueError("warning lead times are 1 to 366 days, at least one")
        return tuple(sorted(set(leads), reverse=True))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def tier(self, code: str) -> Tier:
        for tier in self.tiers:
            if tier.code == code:
                return tier
        return self.tiers[0]
