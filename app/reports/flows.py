"""Points issued, redeemed, expired, adjusted, reversed and cleared per day, week or month, and the
breakage rate, over a period of local dates in the program's time zone.

Each row sums the entries that occurred in its period (app/reports/totals.py): `issued` the EARN
points, `redeemed` the REDEEM points, `expired` EXPIRE, `reversed` what refunds took back
(REVERSAL), `cleared` 清零 (CLEAR), and adjustments both ways; all as positive numbers, and `net`
the signed sum of every entry, so net = issued − redeemed − expired − reversed − cleared +
adjusted_in − adjusted_out. A week starts on Monday; the first and last rows of a period that
does not start or end on a period boundary count only its dates (`start`, `end`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from app.db import Mongo
from app.ledger import EntryKind
from app.program import current_program
from app.reports.periods import (
    MAX_DAYS,
    DateRange,
    Period,
    date_range,
    next_period,
    periods,
)
from app.reports.table import Table
from app.reports.totals import Totals, ledger_totals

RATE_PLACES = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class FlowRow:
    period: date  # the period's first local date
    start: date  # the first and last dates counted (inside the report's range)
    end: date
    issued: int
    redeemed: int
    expired: int
    adjusted_in: int
    adjusted_out: int
    reversed: int
    cleared: int
    net: int
    entries: int

    @classmethod
    def of(cls, period: date, start: date, end: date, sums: Totals) -> FlowRow:
        return cls(
            period=period,
            start=start,
            end=end,
            issued=sums.kind(EntryKind.EARN).credit,
            redeemed=-sums.kind(EntryKind.REDEEM).debit,
            expired=-sums.kind(EntryKind.EXPIRE).debit,
            adjusted_in=sums.kind(EntryKind.ADJUST).credit,
            adjusted_out=-sums.kind(EntryKind.ADJUST).debit,
            reversed=-sums.kind(EntryKind.REVERSAL).debit,
            cleared=-sums.kind(EntryKind.CLEAR).debit,
            net=sums.points,
            entries=sums.entries,
        )


FLOW_HEADER = (
    "period",
    "start",
    "end",
    "issued",
    "redeemed",
    "expired",
    "adjusted_in",
    "adjusted_out",
    "reversed",
    "cleared",
    "net",
    "entries",
)


@dataclass(frozen=True, slots=True)
class PointsFlow:
    by: Period
    rows: tuple[FlowRow, ...]

    def table(self) -> Table:
        return Table(
            FLOW_HEADER,
            tuple(
                (
                    r.period,
                    r.start,
                    r.end,
                    r.issued,
                    r.redeemed,
                    r.expired,
                    r.adjusted_in,
                    r.adjusted_out,
                    r.reversed,
                    r.cleared,
                    r.net,
                    r.entries,
                )
                for r in self.rows
            ),
        )


async def points_flow(mongo: Mongo, first: date, last: date, by: Period) -> PointsFlow:
    """One row per `by` period from `first` to `last` (local dates, both included), empty ones too."""
    zone = (await current_program(mongo)).zone
    span = date_range(first, last, zone, MAX_DAYS[by])
    found = await ledger_totals(mongo, span.start, span.end, by, zone)
    by_period = {key.astimezone(zone).date(): sums for key, sums in found.items() if key}
    rows = []
    for period in periods(span, by):
        start = max(period, span.first)
        end = min(next_period(period, by) - timedelta(days=1), span.last)
        rows.append(FlowRow.of(period, start, end, by_period.get(period, Totals())))
    return PointsFlow(by, tuple(rows))


@dataclass(frozen=True, slots=True)
class Breakage:
    """Expired ÷ issued over a period: the share of points issued that members let expire."""

    first: date
    last: date
    issued: int
    expired: int

    @property
    def rate(self) -> Decimal | None:
        if self.issued <= 0:
            return None
        return (Decimal(self.expired) / Decimal(self.issued)).quantize(
            RATE_PLACES, rounding=ROUND_HALF_EVEN
        )

    def table(self) -> Table:
        header = ("from", "to", "issued", "expired", "rate")
        return Table(header, ((self.first, self.last, self.issued, self.expired, self.rate),))


async def breakage(mongo: Mongo, first: date, last: date) -> Breakage:
    zone = (await current_program(mongo)).zone
    span: DateRange = date_range(first, last, zone, MAX_DAYS[Period.MONTH])
    sums = (await ledger_totals(mongo, span.start, span.end)).get(None, Totals())
    issued = sums.kind(EntryKind.EARN).credit
    return Breakage(first, last, issued, -sums.kind(EntryKind.EXPIRE).debit)
