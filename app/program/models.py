"""The program's configuration as stored in the `program` collection.

One document per version: identity, currencies, time zone, tiers, expiry, the earn rules, the
campaigns, the activities and check-in, and the rules for paying with points. Every change is a
new version (app/program/service.py); points already issued keep the version they were issued
under (a lot's policy stamp, a breakdown row's `version`).

Money is Decimal everywhere (never float): amounts in an order, the value of a point. A rule's
`id` is stable across versions, so reports and refunds can name it; a breakdown row carries the
program version that computed it.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from app.bounds import MAX_ACCOUNT_POINTS, MAX_BUDGET, MAX_ENTRY_POINTS
from app.ledger import ExpiryPolicySet
from app.program.conditions import Condition, check_bounds, facts_of, operands_of, scopes

RuleId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.:-]*$")]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
# A multiplier of the base points: 2 is double points, 1.5 is +50 %. At most two decimals.
Multiplier = Annotated[Decimal, Field(ge=0, le=100, max_digits=7, decimal_places=2)]
PositiveMoney = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=4)]


def _unique(values: tuple[str, ...]) -> tuple[str, ...]:
    if len(set(values)) != len(values):
        raise ValueError("values must be unique")
    return values


Codes = Annotated[tuple[Code, ...], AfterValidator(_unique)]


def _unique_ids(kind: str, ids: list[str]) -> None:
    if len(set(ids)) != len(ids):
        raise ValueError(f"{kind} ids must be unique")


def _tier_codes(info: ValidationInfo) -> set[str]:
    """The codes of the program's tiers, validated before the fields that refer to them."""
    return {tier.code for tier in info.data.get("tiers", ())}


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Tier(_Config):
    code: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str = Field(min_length=1, max_length=64)
    threshold: int = Field(
        ge=0, le=MAX_ACCOUNT_POINTS, description="Qualifying points needed to reach the tier."
    )
    multiplier: Multiplier = Field(
        default=Decimal(1),
        description="The tier's earn multiplier on base points: 1.25 gives 25 % more.",
    )


class TierRules(_Config):
    """How qualifying points decide the tier."""

    window_days: int = Field(
        default=365, ge=1, le=3660, description="Qualifying points count over this rolling window."
    )
    max_levels_down: int = Field(
        default=1, ge=1, le=100, description="At most this many levels down per evaluation."
    )


class BaseRate(_Config):
    """`points` points per `per` money units, floored per line or per order."""

    points: int = Field(default=1, ge=0, le=1_000_000)
    per: PositiveMoney = Decimal(1)
    rounding: Literal["line", "order"] = Field(
        default="line",
        description="floor the base points of each line (line) or of the order's total (order)",
    )


class Exclusions(_Config):
    """Lines that earn nothing at all (gift cards, deposits, tax)."""

    categories: Codes = ()
    skus: Codes = ()


def _for_purchases(node: Any) -> Any:
    """A rule's or campaign's condition reads what a purchase knows: not a segment's facts."""
    if "account" in scopes(node):
        raise ValueError(
            "points, lifetime_points, redeemed_points, days_since_activity and "
            "status are facts of segments, not of a purchase"
        )
    return node


When = Annotated[Condition, AfterValidator(check_bounds), AfterValidator(_for_purchases)]


class RuleCap(_Config):
    """At most `points` from one rule (or campaign) to a member in each local period."""

    points: int = Field(ge=1, le=MAX_ENTRY_POINTS)
    period: Literal["day", "week", "month", "year"] = "month"


class EarnRule(_Config):
    """A rule: a multiplier of the line's base points, a fixed bonus per line or per unit, or a
    fixed bonus per order, on the lines (or orders) its categories, SKUs and condition select.

    A multiplier m adds (m - 1) × base points of the matching line (5 on dining gives 5× in all);
    `bonus_points` adds a fixed number per matching line, or per unit with `per_unit`;
    `order_bonus` adds a fixed number once per order whose facts meet `when`. `when` is a
    condition (app/program/conditions.py) over the purchase, the member and, for line effects, the
    line; with categories or SKUs too, a line must match both. `cap_per_order` and
    `cap_per_member` bound what this rule gives (its own rows, before the tier multiplier).
    """

    id: RuleId
    name: str = Field(default="", max_length=120)
    categories: Codes = ()
    skus: Codes = ()
    when: When | None = None
    multiplier: Multiplier | None = None
    bonus_points: int | None = Field(default=None, ge=1, le=1_000_000)
    per_unit: bool = False
    order_bonus: int | None = Field(default=None, ge=1, le=1_000_000)
    cap_per_order: int | None = Field(default=None, ge=1, le=MAX_ENTRY_POINTS)
    cap_per_member: RuleCap | None = None

    @model_validator(mode="after")
    def _effect(self) -> Self:
        line_effect = self.multiplier is not None or self.bonus_points is not None
        if not line_effect and self.order_bonus is None:
            raise ValueError("a rule gives a multiplier, bonus_points or order_bonus")
        if line_effect and self.order_bonus is not None:
            raise ValueError(
                "a rule gives per line (multiplier, bonus_points) or per order, not both"
            )
        if self.order_bonus is not None:
            if self.categories or self.skus:
                raise ValueError(
                    "an order_bonus rule selects orders by `when`, not categories or skus"
                )
            if self.when is not None and "line" in scopes(self.when):
                raise ValueError(
                    "an order_bonus's condition reads the order and the member, not a line"
                )
        elif not self.categories and not self.skus and self.when is None:
            raise ValueError("a rule matches categories, skus or a `when` condition")
        return self

    @property
    def capped(self) -> bool:
        return self.cap_per_order is not None or self.cap_per_member is not None


class Recurrence(_Config):
    """Days a campaign runs, in the program's time zone: any of weekdays (1 = Monday),
    days of the month, or yearly dates "MM-DD". Empty means every day of its window."""

    weekdays: tuple[Annotated[int, Field(ge=1, le=7)], ...] = ()
    month_days: tuple[Annotated[int, Field(ge=1, le=31)], ...] = ()
    dates: tuple[
        Annotated[str, Field(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")], ...
    ] = ()

    @property
    def empty(self) -> bool:
        return not (self.weekdays or self.month_days or self.dates)


class Campaign(_Config):
    """Extra points in a window (11.11), on recurring days (member day), for some tiers or channels.

    multiplier m adds (m - 1) × base points of the order's earning lines (2 is double points);
    bonus_points adds a fixed number per order. `when` narrows it further by any fact of the
    purchase, the member or (for the multiplier) the line (app/program/conditions.py). `stacking`: additive campaigns all add up; among
    best_of campaigns only the one giving the most points applies. `budget` is the total points the
    campaign may ever give; once spent it stops (enforced atomically by the partner service).
    """

    id: RuleId
    name: str = Field(min_length=1, max_length=120)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    recurrence: Recurrence = Field(default_factory=Recurrence)
    tiers: Codes = ()
    channels: Codes = ()
    categories: Codes = ()
    multiplier: Multiplier | None = None
    bonus_points: int | None = Field(default=None, ge=1, le=1_000_000)
    when: When | None = None
    stacking: Literal["additive", "best_of"] = "additive"
    budget: int | None = Field(default=None, ge=1, le=MAX_BUDGET)
    holdout_percent: Decimal = Field(
        default=Decimal(0),
        ge=0,
        le=50,
        max_digits=4,
        decimal_places=2,
        description="a control group: this share of the audience, drawn at random per member "
        "and kept, gets nothing from the campaign, so that its results can be measured",
    )

    @model_validator(mode="after")
    def _valid(self) -> Self:
        if self.multiplier is None and self.bonus_points is None:
            raise ValueError("a campaign gives a multiplier or bonus_points (or both)")
        if self.bonus_points is not None and self.when is not None and "line" in scopes(self.when):
            raise ValueError(
                "a campaign's bonus_points is per order: its `when` cannot read a line"
            )
        for name in ("starts_at", "ends_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} must carry a time zone offset")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class Birthday(_Config):
    """A bonus on purchases in the member's birthday day, week or month (program's time zone)."""

    window: Literal["day", "week", "month"] = "day"
    multiplier: Multiplier | None = None
    bonus_points: int | None = Field(default=None, ge=1, le=1_000_000)
    once_per_year: bool = True

    @model_validator(mode="after")
    def _effect(self) -> Self:
        if self.multiplier is None and self.bonus_points is None:
            raise ValueError("a birthday bonus gives a multiplier or bonus_points (or both)")
        return self


class Caps(_Config):
    per_order: int | None = Field(default=None, ge=1, le=MAX_ENTRY_POINTS)
    per_member_per_day: int | None = Field(default=None, ge=1, le=MAX_ENTRY_POINTS)


class EarnRules(_Config):
    base: BaseRate = Field(default_factory=BaseRate)
    exclusions: Exclusions = Field(default_factory=Exclusions)
    rules: tuple[EarnRule, ...] = ()
    birthday: Birthday | None = None
    caps: Caps = Field(default_factory=Caps)

    @field_validator("rules")
    @classmethod
    def _unique_rules(cls, rules: tuple[EarnRule, ...]) -> tuple[EarnRule, ...]:
        _unique_ids("earn rule", [rule.id for rule in rules])
        return rules


class Referrals(_Config):
    """Member-get-member (app/referrals): both earn once the referred member's first purchase
    of at least `min_spend` has matured (its return window passed without a refund)."""

    referrer_points: int = Field(ge=1, le=1_000_000)
    referred_points: int = Field(default=0, ge=0, le=1_000_000)
    min_spend: Decimal = Field(default=Decimal(0), ge=0, le=Decimal(10) ** 9, decimal_places=4)
    max_per_month: int = Field(
        default=20, ge=1, le=10_000, description="referrals a referrer is paid for in a local month"
    )
    link: str = Field(
        default="https://example.com/join?ref={code}",
        max_length=200,
        pattern=r"^https?://[^\s]+$",
        description="the sign-up link members share; {code} is replaced by their code",
    )

    @field_validator("link")
    @classmethod
    def _has_code(cls, link: str) -> str:
        if "{code}" not in link:
            raise ValueError("the link holds {code}, where the member's code goes")
        return link


class ChallengeReward(_Config):
    """What completing a challenge gives: points (in the completing purchase's entry) and/or a
    badge shown on the member's profile."""

    points: int = Field(default=0, ge=0, le=1_000_000)
    badge: Code | None = None
    badge_name: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.points == 0 and self.badge is None:
            raise ValueError("a challenge's reward gives points, a badge, or both")
        if (self.badge is None) != (self.badge_name is None):
            raise ValueError("a badge takes a code and a name")
        return self


class Challenge(_Config):
    """A goal in a window (app/challenges): purchases made, money spent, or distinct categories
    bought, counted over purchases that meet `when`, or a daily check-in streak of `goal` days, in each calendar `period` (week, month,
    quarter, year in the program's time zone) or once between `starts_at` and `ends_at`; its
    reward at most once per member per window."""

    id: RuleId
    name: str = Field(min_length=1, max_length=120)
    metric: Literal["purchases", "spend", "categories", "check_in_streak"]
    goal: Decimal = Field(gt=0, le=Decimal(10) ** 9, max_digits=14, decimal_places=4)
    period: Literal["week", "month", "quarter", "year"] | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    when: When | None = None
    reward: ChallengeReward

    @model_validator(mode="after")
    def _window(self) -> Self:
        if (self.period is None) == (self.ends_at is None):
            raise ValueError("a challenge runs each `period`, or once until `ends_at`")
        if self.period is not None and self.starts_at is not None:
            raise ValueError("a periodic challenge has no starts_at")
        for name in ("starts_at", "ends_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} must carry a time zone offset")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.metric != "spend" and self.goal != self.goal.to_integral_value():
            raise ValueError(f"a {self.metric} goal is a whole number")
        if self.metric == "categories" and self.goal > 100:
            raise ValueError("a categories goal is at most 100")
        if self.metric == "check_in_streak":
            if self.goal > 366:
                raise ValueError("a check-in streak goal is at most 366 days")
            if self.when is not None:
                raise ValueError("a check-in streak challenge has no `when`: no purchase is read")
        if self.when is not None and "line" in scopes(self.when):
            raise ValueError("a challenge's condition reads the order and the member, not a line")
        return self


class Activity(_Config):
    """Points for something a member did (sign-up, review, share, referral), posted by a partner."""

    code: Code
    name: str = Field(min_length=1, max_length=120)
    points: int = Field(ge=1, le=1_000_000)
    per_day: int | None = Field(
        default=None, ge=1, le=1000, description="times per member per local day"
    )
    total: int | None = Field(default=None, ge=1, le=1_000_000, description="times per member ever")


class CheckIn(_Config):
    """Daily check-in (签到): points by streak day; the last value repeats after the list ends."""

    points_by_streak: tuple[Annotated[int, Field(ge=0, le=1_000_000)], ...] = Field(min_length=1)
    restart_after_last: bool = Field(
        default=False, description="after the last day of the list the streak starts over at day 1"
    )


class PayWithPoints(_Config):
    """积分抵扣: points paying part of an order at a fixed value."""

    point_value: PositiveMoney = Field(description="money one point pays, in money_currency")
    max_share: Decimal = Field(
        default=Decimal(1),
        gt=0,
        le=1,
        max_digits=5,
        decimal_places=4,
        description="the most of an order's amount points may pay",
    )
    min_points: int = Field(default=1, ge=1, le=MAX_ENTRY_POINTS)
    step: int = Field(
        default=1, ge=1, le=MAX_ENTRY_POINTS, description="points are used in multiples of this"
    )
    hold_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)


class Program(_Config):
    """One brand's points program. Versioned: every change stores a new version."""

    name: str = Field(min_length=1, max_length=120)
    currency: str = Field(min_length=1, max_length=32, description="What the points are called.")
    money_currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    point_value: Decimal = Field(
        default=Decimal("0.01"),
        ge=0,
        max_digits=18,
        decimal_places=6,
        description="the money value of one point, for liability reports",
    )
    timezone: str = "UTC"
    tiers: tuple[Tier, ...] = Field(min_length=1)
    tier_rules: TierRules = Field(default_factory=TierRules)
    expiry: ExpiryPolicySet = Field(default_factory=ExpiryPolicySet)
    warning_lead_days: tuple[int, ...] = Field(
        default=(30, 7, 1), description="How long before an expiry members are warned, in days."
    )
    return_window_days: int = Field(
        default=0, ge=0, le=365, description="earned points stay pending this long"
    )
    backdate_days: int = Field(
        default=30, ge=0, le=3660, description="how far in the past a purchase's occurredAt may lie"
    )
    earn: EarnRules = Field(default_factory=EarnRules)
    campaigns: tuple[Campaign, ...] = ()
    activities: tuple[Activity, ...] = ()
    challenges: tuple[Challenge, ...] = Field(default=(), max_length=50)
    referrals: Referrals | None = None
    check_in: CheckIn | None = None
    pay_with_points: PayWithPoints | None = None
    version: int = Field(default=1, ge=1)
    updated_at: datetime | None = None
    updated_by: str | None = None
    note: str | None = Field(default=None, max_length=500)

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

    @field_validator("expiry")
    @classmethod
    def _expiry_tiers(cls, expiry: ExpiryPolicySet, info: ValidationInfo) -> ExpiryPolicySet:
        unknown = set(expiry.by_tier) - _tier_codes(info)
        if "tiers" in info.data and unknown:
            raise ValueError(f"by_tier names unknown tiers: {sorted(unknown)}")
        return expiry

    @field_validator("campaigns")
    @classmethod
    def _campaign_references(
        cls, campaigns: tuple[Campaign, ...], info: ValidationInfo
    ) -> tuple[Campaign, ...]:
        _unique_ids("campaign", [campaign.id for campaign in campaigns])
        for campaign in campaigns:
            if "tiers" in info.data and set(campaign.tiers) - _tier_codes(info):
                raise ValueError(f"campaign {campaign.id} names unknown tiers")
        return campaigns

    @field_validator("challenges")
    @classmethod
    def _unique_challenges(cls, challenges: tuple[Challenge, ...]) -> tuple[Challenge, ...]:
        _unique_ids("challenge", [challenge.id for challenge in challenges])
        return challenges

    @field_validator("activities")
    @classmethod
    def _unique_activities(cls, activities: tuple[Activity, ...]) -> tuple[Activity, ...]:
        _unique_ids("activity", [activity.code for activity in activities])
        return activities

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def tier(self, code: str) -> Tier:
        for tier in self.tiers:
            if tier.code == code:
                return tier
        return self.tiers[0]

    def activity(self, code: str) -> Activity | None:
        for activity in self.activities:
            if activity.code == code:
                return activity
        return None

    def named(self, fact: str) -> set[Any]:
        """Every value the program's conditions compare `fact` with (the segments they name)."""
        whens = [rule.when for rule in self.earn.rules] + [c.when for c in self.campaigns]
        whens += [challenge.when for challenge in self.challenges]
        return set().union(*(operands_of(when, fact) for when in whens if when is not None))

    def reads(self, fact: str) -> bool:
        """Whether a condition of the program's rules or campaigns reads `fact`."""
        whens = [rule.when for rule in self.earn.rules] + [c.when for c in self.campaigns]
        whens += [challenge.when for challenge in self.challenges]
        return any(when is not None and fact in facts_of(when) for when in whens)

    def local_date(self, at: datetime) -> date:
        """The calendar date of an instant in the program's time zone."""
        return at.astimezone(self.zone).date()
