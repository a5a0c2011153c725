"""What the ledger's entries moved over a range of `occurred_at`, in all or per local period.

Every figure of the flow and liability reports is a sum over entries, computed by the database in
three parts read in one snapshot (so the rollup job cannot move between them):

1. the hourly buckets (app/reports/rollup.py) of the whole hours inside the range: the entries
   recorded up to the watermark;
2. the entries of the partial hours at its edges recorded up to the watermark (an "as of" instant
   inside an hour), one range of the `occurred_at` index each;
3. the tail: entries recorded after the watermark that occurred in the range, one range of the
   `recorded_at` index.

Without a rollup yet, or for a time zone whose local days do not start on a UTC hour (India,
Nepal), it sums the entries of the range directly. Each part is grouped in the database per
($dateTrunc in the program's time zone) period and kind: only one row per period and kind comes
back, never an entry.

The liability's split (moves.py) is summed the same way, from the same snapshot, by the moves'
own watermark: the buckets' pending and held moves of the whole hours; for the partial hours (or
the whole range, where the buckets do not answer), the pending moves of entries up to the
watermark that occurred there, the windows closing there (`ledger_maturities`) and the holds
opened or closed there; and the moves of the tail, and of holds past the watermark. Without
moves rolled up yet, every entry before the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pymongo.asynchronous.client_session import AsyncClientSession

from app.db import Document, Mongo
from app.ledger import EntryKind
from app.reports.levels import DAYS, MONTHS, bucket_ids, spans
from app.reports.moves import MATURITIES, held_sums, maturity_sums, pending_sums
from app.reports.periods import (
    MAX_GROUPED,
    UTC_ZONE,
    DateRange,
    Period,
    ReportTooLarge,
    hour_ceil,
    hour_floor,
    local_midnight,
    next_period,
    period_start,
    whole_hour_zone,
)
from app.reports.rollup import BUCKETS, entry_sums, rollup_state

KINDS = tuple(kind.value for kind in EntryKind)
BUCKET_LEVELS = (BUCKETS, DAYS, MONTHS)
Key = datetime | None  # a period's first instant, or None for the whole range


@dataclass(slots=True)
class KindTotals:
    credit: int = 0  # Σ positive points
    debit: int = 0  # Σ negative points (≤ 0)
    count: int = 0


@dataclass(slots=True)
class Totals:
    """Sums of a set of entries: per kind, and the debt they moved (Σ debt_change); with the
    split asked, what they and the holds moved pending and held points by (moves.py)."""

    kinds: dict[str, KindTotals] = field(default_factory=dict)
    debt: int = 0
    pending: int = 0
    held: int = 0

    def kind(self, kind: EntryKind) -> KindTotals:
        return self.kinds.get(kind.value, KindTotals())

    def add(self, kind: str, credit: int, debit: int, count: int) -> None:
        sums = self.kinds.setdefault(kind, KindTotals())
        sums.credit += credit
        sums.debit += debit
        sums.count += count

    @property
    def points(self) -> int:
        """Σ points: what the entries moved the members' balances (available + pending + held −
        debt) by."""
        return sum(sums.credit + sums.debit for sums in self.kinds.values())

    @property
    def entries(self) -> int:
        return sum(sums.count for sums in self.kinds.values())


def period_key(date_field: str, by: Period | None, zone: ZoneInfo) -> Any:
    """The $group key of a date: its period's first instant in `zone`, or None (one group)."""
    if by is None:
        return None
    spec: Document = {"date": date_field, "unit": by.value, "timezone": zone.key}
    if by is Period.WEEK:
        spec["startOfWeek"] = "monday"
    return {"$dateTrunc": spec}


async def ledger_totals(
    mongo: Mongo,
    start: datetime | None,
    end: datetime,
    by: Period | None = None,
    zone: ZoneInfo = UTC_ZONE,
    *,
    split: bool = False,
    session: AsyncClientSession | None = None,
) -> dict[Key, Totals]:
    """Sums of the entries with start ≤ occurred_at < end (no start: since the first), per
    period of `by` in `zone` (keyed by its first instant, UTC), or in all (key None); with
    `split`, also the pending and held moves with their instant in the range; in the caller's
    `session` (its snapshot), or in a transaction of its own."""

    async def work(session: AsyncClientSession) -> dict[Key, Totals]:
        mark, moved, coarse, indexed = await rollup_state(mongo, session)
        totals: dict[Key, Totals] = {}
        parts = [(c, p, _add_entry_row) for c, p in _parts(mark, start, end, by, zone, coarse)]
        if split:
            moves = _move_parts(moved, start, end, by, zone, indexed)
            parts += [(c, p, _add_move_row) for c, p in moves]
        for collection, pipeline, add in parts:
            cursor = await mongo[collection].aggregate(pipeline, session=session)
            async for row in cursor:
                (_add_bucket_row if collection in BUCKET_LEVELS else add)(totals, row)
        return totals

    if session is not None:
        return await work(session)
    return await mongo.transaction(work)


async def refuse_large(
    mongo: Mongo,
    span: DateRange,
    kind: EntryKind | None,
    session: AsyncClientSession | None = None,
) -> int | None:
    """The number of entries (of `kind`, or all) that occurred in `span`, counted from the rollup;
    ReportTooLarge if more than MAX_GROUPED. None where the rollup cannot count them (none yet, or
    a zone whose days do not start on a UTC hour): the count would cost what grouping them does."""
    if not whole_hour_zone(span.zone, span.start, span.end):
        return None
    if (await rollup_state(mongo, session))[0] is None:
        return None
    totals = await ledger_totals(mongo, span.start, span.end, session=session)
    sums = totals.get(None, Totals())
    return check_grouped(sums.entries if kind is None else sums.kind(kind).count)


def check_grouped(entries: int) -> int:
    """ReportTooLarge if a report would group more than MAX_GROUPED entries on request."""
    if entries > MAX_GROUPED:
        raise ReportTooLarge(entries, MAX_GROUPED)
    return entries


def _hours(
    mark: datetime | None, start: datetime | None, end: datetime, by: Period | None, zone: ZoneInfo
) -> tuple[datetime | None, datetime] | None:
    """The whole hours [low, high) of the range that the rollup's buckets answer for, if any."""
    low = None if start is None else hour_ceil(start)
    high = hour_floor(end)
    whole = by is None or start is None or whole_hour_zone(zone, start, end)
    if mark is None or not whole or (low is not None and low >= high):
        return None
    return low, high


def _parts(
    mark: datetime | None,
    start: datetime | None,
    end: datetime,
    by: Period | None,
    zone: ZoneInfo,
    coarse: bool = False,
) -> Iterator[tuple[str, list[Document]]]:
    """With `coarse` (the rollup's days and months are there: levels.py) and no periods asked,
    the whole hours are read as whole months, days and hours."""
    key = period_key("$occurred_at", by, zone)
    hours = _hours(mark, start, end, by, zone)
    if mark is None or hours is None:
        yield "ledger", entry_sums({"occurred_at": _between(start, end)}, key)
        return
    low, high = hours
    if not coarse:
        yield BUCKETS, _bucket_sums(_between(low, high), by, zone)
    elif by is None or low is None:
        for collection, first, until in spans(low, high):
            match = (
                _between(first, until)  # the months since the first: a dozen a year
                if first is None
                else _ids(bucket_ids(collection, first, until))
            )
            yield collection, _bucket_sums(match, by, zone)
    else:
        for collection, listed in _period_buckets(low, high, by, zone).items():
            yield collection, _bucket_sums(_ids(listed), by, zone)
    done = {"$lte": mark}
    if start is not None and low is not None and start < low:
        match = {"occurred_at": _between(start, low), "recorded_at": done}
        yield "ledger", entry_sums(match, key)
    if high < end:
        match = {"occurred_at": _between(high, end), "recorded_at": done}
        yield "ledger", entry_sums(match, key)
    tail = {"recorded_at": {"$gt": mark}, "occurred_at": _between(start, end)}
    yield "ledger", entry_sums(tail, key)


def _move_parts(
    mark: datetime | None,
    start: datetime | None,
    end: datetime,
    by: Period | None,
    zone: ZoneInfo,
    indexed: bool = True,
) -> Iterator[tuple[str, list[Document]]]:
    """The pending and held moves (moves.py) with their instant in [start, end) that the buckets
    do not hold: those of the hours outside the buckets' range (the edges, or all of the range),
    and those of entries and holds past `mark`, the moves' watermark."""

    def key(date_field: str) -> Any:
        return period_key(date_field, by, zone)

    span = _between(start, end)
    if mark is None:  # no rollup yet: every entry before the end, every hold move in the range
        yield "ledger", pending_sums({"occurred_at": {"$lt": end}}, span, key)
        for field in ("created_at", "closed_at"):
            yield "holds", held_sums(field, span, key)
        return
    hours = _hours(mark, start, end, by, zone)
    edges = [(start, end)] if hours is None else _outside(start, end, *hours)
    for low, high in edges:
        between = _between(low, high)
        rolled = {"occurred_at": between, "recorded_at": {"$lte": mark}}
        yield "ledger", pending_sums(rolled, None, key, ends=False)
        yield MATURITIES, maturity_sums(between, key, indexed=indexed)
    tail = {"recorded_at": {"$gt": mark}, "occurred_at": {"$lt": end}}
    yield "ledger", pending_sums(tail, span, key)
    unrolled = [_between(low, high) for low, high in edges]  # holds: an instant is its record
    if hours is not None and mark < hours[1]:
        low, high = hours
        unrolled.append(
            {"$gt": mark, "$lt": high} if low is None or mark >= low else _between(low, high)
        )
    for at in unrolled:
        for field in ("created_at", "closed_at"):
            yield "holds", held_sums(field, at, key)


def _period_buckets(
    low: datetime, high: datetime, by: Period, zone: ZoneInfo
) -> dict[str, list[datetime]]:
    """The coarsest buckets that fit inside each local period of the whole hours [low, high):
    the range cut at every period's start, each piece as months, days and hours (levels.spans);
    per collection, every bucket's id. A UTC day or month lies in one local period wherever the
    program's zone puts its midnights (on a whole hour), so the buckets group by period exactly:
    a year by month reads its UTC months (or, east or west of UTC, the days inside each local
    month and the hours at its edges), not 8,760 hours."""
    found: dict[str, list[datetime]] = {}
    piece = low
    while piece < high:
        day = piece.astimezone(zone).date()
        end = min(local_midnight(next_period(period_start(day, by), by), zone), high)
        for collection, first, until in spans(piece, end):
            assert first is not None  # a piece has a start
            found.setdefault(collection, []).extend(bucket_ids(collection, first, until))
        piece = end
    return found


def _ids(ids: list[datetime]) -> Document:
    """A match of these bucket ids, listed: SecantusDB reads a list of `_id`s from the index but
    scans the whole collection for a range of them (8,760 hours a year, seconds)."""
    return {"$in": ids}


def _outside(
    start: datetime | None, end: datetime, low: datetime | None, high: datetime
) -> list[tuple[datetime | None, datetime]]:
    """The parts of [start, end) outside the whole hours [low, high)."""
    edges: list[tuple[datetime | None, datetime]] = []
    if start is not None and low is not None and start < low:
        edges.append((start, low))
    if high < end:
        edges.append((high, end))
    return edges


def _between(start: datetime | None, end: datetime) -> Document:
    return {"$lt": end} if start is None else {"$gte": start, "$lt": end}


def _bucket_sums(hours: Document, by: Period | None, zone: ZoneInfo) -> list[Document]:
    group: Document = {"_id": period_key("$_id", by, zone), "debt": {"$sum": "$debt"}}
    group["pending"] = {"$sum": "$pending"}
    group["held"] = {"$sum": "$held"}
    for kind in KINDS:
        for name in ("credit", "debit", "count"):
            group[f"{kind}_{name}"] = {"$sum": f"$kinds.{kind}.{name}"}
    return [{"$match": {"_id": hours}}, {"$group": group}]


def _add_bucket_row(totals: dict[Key, Totals], row: Document) -> None:
    sums = totals.setdefault(row["_id"], Totals())
    sums.debt += row["debt"]
    sums.pending += row["pending"]
    sums.held += row["held"]
    for kind in KINDS:
        count = row[f"{kind}_count"]
        if count:
            sums.add(kind, row[f"{kind}_credit"], row[f"{kind}_debit"], count)


def _add_entry_row(totals: dict[Key, Totals], row: Document) -> None:
    sums = totals.setdefault(row["_id"]["p"], Totals())
    sums.debt += row["debt"]
    sums.add(row["_id"]["k"], row["credit"], row["debit"], row["count"])


def _add_move_row(totals: dict[Key, Totals], row: Document) -> None:
    sums = totals.setdefault(row["_id"], Totals())
    sums.pending += row.get("pending", 0)
    sums.held += row.get("held", 0)
