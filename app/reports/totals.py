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
from app.reports.periods import UTC_ZONE, Period, hour_ceil, hour_floor, whole_hour_zone
from app.reports.rollup import BUCKETS, entry_sums, watermark

KINDS = tuple(kind.value for kind in EntryKind)
Key = datetime | None  # a period's first instant, or None for the whole range


@dataclass(slots=True)
class KindTotals:
    credit: int = 0  # Σ positive points
    debit: int = 0  # Σ negative points (≤ 0)
    count: int = 0


@dataclass(slots=True)
class Totals:
    """Sums of a set of entries: per kind, and the debt they moved (Σ debt_change)."""

    kinds: dict[str, KindTotals] = field(default_factory=dict)
    debt: int = 0

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
    session: AsyncClientSession | None = None,
) -> dict[Key, Totals]:
    """Sums of the entries with start ≤ occurred_at < end (no start: since the first), per
    period of `by` in `zone` (keyed by its first instant, UTC), or in all (key None); in the
    caller's `session` (its snapshot), or in a transaction of its own."""

    async def work(session: AsyncClientSession) -> dict[Key, Totals]:
        mark = await watermark(mongo, session)
        totals: dict[Key, Totals] = {}
        for collection, pipeline in _parts(mark, start, end, by, zone):
            cursor = await mongo[collection].aggregate(pipeline, session=session)
            async for row in cursor:
                if collection == BUCKETS:
                    _add_bucket_row(totals, row)
                else:
                    _add_entry_row(totals, row)
        return totals

    if session is not None:
        return await work(session)
    return await mongo.transaction(work)


def _parts(
    mark: datetime | None,
    start: datetime | None,
    end: datetime,
    by: Period | None,
    zone: ZoneInfo,
) -> Iterator[tuple[str, list[Document]]]:
    key = period_key("$occurred_at", by, zone)
    low = None if start is None else hour_ceil(start)
    high = hour_floor(end)
    whole = by is None or start is None or whole_hour_zone(zone, start, end)
    if mark is None or not whole or (low is not None and low >= high):
        yield "ledger", entry_sums({"occurred_at": _between(start, end)}, key)
        return
    yield BUCKETS, _bucket_sums(_between(low, high), by, zone)
    done = {"$lte": mark}
    if start is not None and low is not None and start < low:
        match = {"occurred_at": _between(start, low), "recorded_at": done}
        yield "ledger", entry_sums(match, key)
    if high < end:
        match = {"occurred_at": _between(high, end), "recorded_at": done}
        yield "ledger", entry_sums(match, key)
    tail = {"recorded_at": {"$gt": mark}, "occurred_at": _between(start, end)}
    yield "ledger", entry_sums(tail, key)


def _between(start: datetime | None, end: datetime) -> Document:
    return {"$lt": end} if start is None else {"$gte": start, "$lt": end}


def _bucket_sums(hours: Document, by: Period | None, zone: ZoneInfo) -> list[Document]:
    group: Document = {"_id": period_key("$_id", by, zone), "debt": {"$sum": "$debt"}}
    for kind in KINDS:
        for name in ("credit", "debit", "count"):
            group[f"{kind}_{name}"] = {"$sum": f"$kinds.{kind}.{name}"}
    return [{"$match": {"_id": hours}}, {"$group": group}]


def _add_bucket_row(totals: dict[Key, Totals], row: Document) -> None:
    sums = totals.setdefault(row["_id"], Totals())
    sums.debt += row["debt"]
    for kind in KINDS:
        count = row[f"{kind}_count"]
        if count:
            sums.add(kind, row[f"{kind}_credit"], row[f"{kind}_debit"], count)


def _add_entry_row(totals: dict[Key, Totals], row: Document) -> None:
    sums = totals.setdefault(row["_id"]["p"], Totals())
    sums.debt += row["debt"]
    sums.add(row["_id"]["k"], row["credit"], row["debit"], row["count"])
