"""Outstanding liability: the points members hold as of an instant, and their value in money.

As of T, counting every entry that occurred at or before T (`occurred_at`; docs/operators.md, "Reports"):

- `points` = Σ (points + debt_change) = available + pending + held at T: what members hold.
  Pending points (inside a return window) count: they are issued and owed unless a refund
  reverses them, and a refund's REVERSAL then takes them out. Held points count: they are the
  member's until a capture redeems them.
- `pending` = the points of lots inside their return window at T (earned at or before T,
  `available_at` after it); `held` = the points of holds open at T (created at or before T, not
  closed by then); `available` = points − pending − held. Each is summed from moves in time like
  the entries (app/reports/moves.py), so it is exact as of any past instant too; pending follows
  the window, whenever a job marked the lots available (the accounts' counters do so only then).
- `debt` = Σ debt_change: points members owe after refunds of points they had spent. A debt does
  not reduce the liability: it is paid only from points the member earns later.
- `net_points` = Σ points = points − debt, the sum `jifen ledger verify` checks balances against.
- `money` = points × the point value of the program version in force at T, rounded once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from pymongo.asynchronous.client_session import AsyncClientSession

from app.clock import Clock
from app.db import Mongo
from app.ledger import overdue_points
from app.program import current_program
from app.reports.periods import (
    MAX_DAYS,
    Period,
    ReportInvalid,
    date_range,
    end_of_day,
    just_after,
)
from app.reports.table import Table
from app.reports.totals import Key, Totals, ledger_totals
from app.reports.values import PointValue, value_history

ONE_MS = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class Liability:
    as_of: datetime  # the last instant counted (inclusive)
    points: int
    debt: int
    net_points: int
    value: PointValue
    pending: int = 0
    held: int = 0

    @property
    def available(self) -> int:
        return self.points - self.pending - self.held

    @property
    def money(self) -> Decimal:
        return self.value.money(self.points)

    def table(self) -> Table:
        return Table(LIABILITY_HEADER, (self._row(self.as_of),))

    def _row(self, label: datetime | date) -> tuple[datetime | date | int | Decimal | str, ...]:
        return (
            label,
            self.points,
            self.available,
            self.pending,
            self.held,
            self.debt,
            self.net_points,
            self.value.value,
            self.money,
            self.value.currency,
            self.value.version,
        )


LIABILITY_HEADER = (
    "as_of",
    "points",
    "available",
    "pending",
    "held",
    "debt",
    "net_points",
    "point_value",
    "money",
    "currency",
    "program_version",
)


@dataclass(frozen=True, slots=True)
class LiabilitySeries:
    """The liability at the end of each local day of a period, each at that day's point value."""

    days: tuple[tuple[date, Liability], ...]

    def table(self) -> Table:
        header = ("date", *LIABILITY_HEADER[1:])
        return Table(header, tuple(day._row(on) for on, day in self.days))


async def liability_as_of(
    mongo: Mongo, clock: Clock, *, at: datetime | None = None, on: date | None = None
) -> Liability:
    """The liability as of the instant `at`, or at the end of the local day `on`, or now."""
    if at is not None and on is not None:
        raise ReportInvalid("date", "give an instant or a date, not both")
    if on is not None:
        until = end_of_day(on, (await current_program(mongo)).zone)
    else:
        until = just_after(clock.now() if at is None else at)
    return await liability_until(mongo, until)


async def liability_until(mongo: Mongo, until: datetime) -> Liability:
    """The liability counting the entries that occurred before `until` (exclusive), less the
    points whose expiry passed before it that the expiry job has not yet taken (one snapshot)."""
    history = await value_history(mongo)

    async def read(session: AsyncClientSession) -> tuple[Totals, int]:
        totals = (await ledger_totals(mongo, None, until, split=True, session=session)).get(None)
        overdue = sum(points for _, points in await overdue_points(mongo, until, session))
        return totals or Totals(), overdue

    totals, overdue = await mongo.transaction(read)
    net, debt = totals.points - overdue, totals.debt
    return Liability(
        until - ONE_MS, net + debt, debt, net, history.before(until), totals.pending, totals.held
    )


async def liability_series(mongo: Mongo, first: date, last: date) -> LiabilitySeries:
    """The liability at the end of each local day from `first` to `last` (program time zone)."""
    history = await value_history(mongo)
    zone = (await current_program(mongo)).zone
    span = date_range(first, last, zone, MAX_DAYS[Period.DAY])

    async def read(
        session: AsyncClientSession,
    ) -> tuple[Totals, dict[Key, Totals], list[tuple[datetime, int]]]:
        opening = (await ledger_totals(mongo, None, span.start, split=True, session=session)).get(
            None
        )
        daily = await ledger_totals(
            mongo, span.start, span.end, Period.DAY, zone, split=True, session=session
        )
        return opening or Totals(), daily, await overdue_points(mongo, span.end, session)

    opening, daily, overdue = await mongo.transaction(read)
    by_date = {key.astimezone(zone).date(): sums for key, sums in daily.items() if key}
    net, debt, pending, held = opening.points, opening.debt, opening.pending, opening.held
    days = []
    on = first
    while on <= last:
        sums = by_date.get(on)
        if sums is not None:
            net, debt = net + sums.points, debt + sums.debt
            pending, held = pending + sums.pending, held + sums.held
        until = end_of_day(on, zone)
        value = history.before(until)
        late = sum(points for at, points in overdue if at < until)  # not expired by the job yet
        days.append(
            (
                on,
                Liability(
                    until - ONE_MS, net - late + debt, debt, net - late, value, pending, held
                ),
            )
        )
        on += timedelta(days=1)
    return LiabilitySeries(tuple(days))
