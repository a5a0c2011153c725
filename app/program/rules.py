"""The earn-rules engine: a purchase and a member in, the points line by line out. Pure: no I/O.

INTERFACE (fixed; other packages code against it). The implementation is being written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from app.program.models import Program


@dataclass(frozen=True, slots=True)
class PurchaseLine:
    line_id: str
    sku: str
    category: str
    quantity: int
    amount: Decimal  # the line's total money amount (not per unit), >= 0


@dataclass(frozen=True, slots=True)
class MemberFacts:
    tier: str
    birthday: date | None = None
    # Points the member already earned from purchases today (local day), for the daily cap.
    earned_today: int = 0
    # Whether the birthday bonus was already given this year (Birthday.once_per_year).
    birthday_bonus_taken: bool = False


@dataclass(frozen=True, slots=True)
class Purchase:
    lines: tuple[PurchaseLine, ...]
    occurred_at: datetime  # aware
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class EarnRow:
    """One row of the breakdown: the points one rule gave on one line (line_id None: the order)."""

    line_id: str | None
    rule: str  # "base", "rule:<id>", "tier:<code>", "campaign:<id>", "birthday", "cap:order", ...
    version: int  # the program version that computed it
    points: int  # a cap's row is negative
    description: str


@dataclass(frozen=True, slots=True)
class EarnResult:
    rows: tuple[EarnRow, ...]
    total: int
    # Points each campaign with a budget gave (the caller reserves them atomically).
    campaign_points: Mapping[str, int] = field(default_factory=dict)
    birthday_bonus: bool = False

    def by_line(self) -> dict[str | None, int]:
        totals: dict[str | None, int] = {}
        for row in self.rows:
            totals[row.line_id] = totals.get(row.line_id, 0) + row.points
        return totals


def compute_earn(
    program: Program,
    purchase: Purchase,
    member: MemberFacts,
    *,
    campaign_remaining: Mapping[str, int] | None = None,
) -> EarnResult:
    """The points a purchase earns. `campaign_remaining` gives what is left of each budgeted
    campaign (absent: unlimited); a campaign never gives more than what is left."""
    raise NotImplementedError
