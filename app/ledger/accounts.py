"""Reading a member's balance (one document) and pages of their ledger entries, and the other
reads of the ledger's collections that other areas make (an entry, accounts' points, a hold by
its key): they call these rather than reading the collections themselves.

Every entry carries `seq`, the member's own sequence number (1, 2, 3, ... without gaps, in
recording order), so a history page is an exact range of numbers: newest first, the last
`first` numbers below the cursor. It never sorts the member's whole history and cuts it with a
limit: SecantusDB examines every match of a sort+limit (about 280 ms over 10,000 entries) but
only the range for a range (about 2 ms), and real MongoDB costs the same for both.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.asynchronous.client_session import AsyncClientSession

from app.db import Document, Mongo
from app.ledger.models import Balance, Entry, EntryKind, Hold, HoldStatus, LotStatus
from app.ledger.store import instant, open_book, settle

# A filtered page widens its range (doubling it) while the filter skips entries; one range
# never spans more numbers than this, so one command never examines more entries.
MAX_WINDOW = 2048
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # before every expiry: a range's lower bound


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """Entries newest first, each with its sequence number; `has_more` when older ones follow."""

    entries: tuple[tuple[int, Entry], ...]
    has_more: bool


async def get_balance(mongo: Mongo, member_id: str, now: datetime) -> Balance:
    """The member's balances and next expiry as of `now`: one read of the account document.

    Exact whatever the jobs have done: when the account says something fell due since it was
    written (pending points matured, points expired, a hold's TTL passed), the due lots (and
    holds) are read and the book caught up in memory, exactly as the member's next operation will
    do and write; this read writes nothing.
    """
    doc = await mongo["accounts"].find_one({"_id": member_id})
    if doc is None:
        return Balance(member_id)
    account = Balance.from_document(doc)
    due = min((at for at in (account.due_at(), account.hold_due) if at is not None), default=None)
    if due is None or due > instant(now):
        return account
    book = await open_book(mongo, None, member_id, doc, instant(now))
    await settle(mongo, None, book)
    return Balance.from_document({"_id": member_id, **book.account_document()})


async def list_entries(
    mongo: Mongo,
    member_id: str,
    *,
    first: int = 50,
    before: int | None = None,
    kinds: tuple[EntryKind, ...] = (),
) -> HistoryPage:
    """The member's entries newest first (by `seq`: the order they were recorded in).

    `before` is the sequence number of the last entry seen (a cursor): entries recorded since
    never shift a page. The first page reads the account's last number (one small read); then
    one range read, or a few widening ones when `kinds` skips entries.
    """
    top = before - 1 if before is not None else await _last_seq(mongo, member_id)
    if not kinds:
        low = max(1, top - first + 1)
        found = await _entries(mongo, member_id, low, top, kinds, first) if low <= top else []
        return HistoryPage(tuple(found), has_more=low > 1)
    wanted = first + 1  # one more than the page tells whether more follow
    found = []
    window = wanted
    while top >= 1 and len(found) < wanted:
        low = max(1, top - window + 1)
        found += await _entries(mongo, member_id, low, top, kinds, wanted - len(found))
        top, window = low - 1, min(2 * window, MAX_WINDOW)
    return HistoryPage(tuple(found[:first]), has_more=len(found) > first)


async def _last_seq(mongo: Mongo, member_id: str) -> int:
    account = await mongo["accounts"].find_one({"_id": member_id}, {"seq": 1})
    return int((account or {}).get("seq", 0))


async def _entries(
    mongo: Mongo, member_id: str, low: int, high: int, kinds: tuple[EntryKind, ...], limit: int
) -> list[tuple[int, Entry]]:
    """Entries numbered `low`..`high` of the `kinds` (any when empty), newest first, at most `limit`.

    The kinds are filtered here, not in the query: with a predicate outside the index SecantusDB
    scans the whole collection instead of the range, and the range is bounded by MAX_WINDOW.
    """
    query: Document = {"member_id": member_id, "seq": {"$gte": low, "$lte": high}}
    size = high - low + 1  # the range holds at most this many: all of them come in one reply
    documents = mongo["ledger"].find(query, batch_size=size, limit=size).sort("seq", -1)
    wanted = {kind.value for kind in kinds}
    found = [
        (doc["seq"], Entry.from_document(doc))
        async for doc in documents
        if not wanted or doc["kind"] in wanted
    ]
    return found[:limit]


async def overdue_points(
    mongo: Mongo, until: datetime, session: AsyncClientSession | None = None
) -> list[tuple[datetime, int]]:
    """Points past their expiry (before `until`) that no job or operation has expired yet, per
    expiry instant, soonest first.

    Their EXPIRE entries, when written, occur at the expiry: a report as of an instant after it
    subtracts these to count exactly what members hold then, whether or not the job has run. Held
    points are left: they stay the member's until their hold is captured or released.
    """
    found = await _overdue(mongo, {"$lt": until}, "$expires_at", session)
    return sorted(found.items())


async def overdue_by_member(
    mongo: Mongo, now: datetime, session: AsyncClientSession | None = None
) -> dict[str, int]:
    """Per member, the points past their expiry at `now` that no job has taken yet (as
    overdue_points): what a read of many accounts' counters subtracts to be exact at `now`."""
    return await _overdue(mongo, {"$lte": now}, "$member_id", session)


async def _overdue(
    mongo: Mongo, expired: Document, key: str, session: AsyncClientSession | None
) -> dict[Any, int]:
    """Unreserved points of live lots whose expiry is in `expired`, summed by `key`: one range of
    the lots' (status, expires_at) index per live status, a few lots when the jobs keep up."""
    found: dict[Any, int] = {}
    # Bounded below too: lots that never expire (expires_at null) sort first in the index, and
    # SecantusDB walks them all for a range with only an upper bound (30 s at 130,000 lots).
    dated = {"$gte": EPOCH, **expired}
    for status in (LotStatus.AVAILABLE, LotStatus.PENDING):
        pipeline: list[Document] = [
            {"$match": {"status": status.value, "expires_at": dated}},
            {"$group": {"_id": key, "points": {"$sum": {"$subtract": ["$remaining", "$held"]}}}},
        ]
        async for row in await mongo["lots"].aggregate(pipeline, session=session):
            found[row["_id"]] = found.get(row["_id"], 0) + int(row["points"])
    return {group: points for group, points in found.items() if points}


async def member_entry(mongo: Mongo, member_id: str, entry_id: str) -> Entry | None:
    """The member's own ledger entry; another member's is None, exactly like a missing one."""
    try:
        oid = ObjectId(entry_id)
    except (InvalidId, TypeError):
        return None
    document = await mongo["ledger"].find_one({"_id": oid, "member_id": member_id})
    return Entry.from_document(document) if document else None


POINTS_FIELDS = {"available": 1, "pending": 1, "held": 1}  # what a clear takes
BY_ID_AT_MOST = 4000  # more accounts than this are read in one pass over them all


async def account_points(
    mongo: Mongo,
    *,
    inactive_before: datetime | None = None,
    member_ids: Sequence[str] | None = None,
    batch_size: int = 1000,
) -> AsyncIterator[tuple[str, int]]:
    """Each account's points as stored (available + pending + held), in no particular order: of
    the members last active before `inactive_before`, or of the named members (a batch job's
    selection; app.ledger.overdue_by_member tells what expired since without a job)."""
    if member_ids is None:
        query: Document = {}
        if inactive_before is not None:
            query = {"last_activity_at": {"$lt": inactive_before}}
        cursor = mongo["accounts"].find(query, POINTS_FIELDS, batch_size=batch_size)
        async for account in cursor:
            yield account["_id"], _points(account)
        return
    for start in range(0, len(member_ids), batch_size):
        chunk = list(member_ids[start : start + batch_size])
        async for account in mongo["accounts"].find({"_id": {"$in": chunk}}, POINTS_FIELDS):
            yield account["_id"], _points(account)


def _points(account: Document) -> int:
    return sum(int(account.get(name) or 0) for name in POINTS_FIELDS)


@dataclass(frozen=True, slots=True)
class AccountActivity:
    """An account's last earn or spend (None: never) and its points as stored (available +
    pending + held; app.ledger.overdue_by_member tells what expired since without a job)."""

    last_activity_at: datetime | None
    points: int


async def account_activity(
    mongo: Mongo, member_ids: Sequence[str], session: AsyncClientSession | None = None
) -> dict[str, AccountActivity]:
    """The named members' accounts' activity and points (a member without an account is left
    out): one read by ids, or one pass over every account for more than BY_ID_AT_MOST of them
    (SecantusDB reads about one account a millisecond by id, some 30 in a pass)."""
    if len(member_ids) > BY_ID_AT_MOST:
        wanted = set(member_ids)
        return {
            member_id: seen
            async for member_id, seen in all_account_activity(mongo, session=session)
            if member_id in wanted
        }
    fields = {**POINTS_FIELDS, "last_activity_at": 1}
    query = {"_id": {"$in": list(member_ids)}}
    return {
        doc["_id"]: AccountActivity(doc.get("last_activity_at"), _points(doc))
        async for doc in mongo["accounts"].find(query, fields, session=session)
    }


async def all_account_activity(
    mongo: Mongo, batch_size: int = 10_000, session: AsyncClientSession | None = None
) -> AsyncIterator[tuple[str, AccountActivity]]:
    """Every account's activity and points (as account_activity), in no particular order: one
    pass over the accounts (SecantusDB reads some 30 a millisecond so, one by id)."""
    fields = {**POINTS_FIELDS, "last_activity_at": 1}
    cursor = mongo["accounts"].find({}, fields, batch_size=batch_size, session=session)
    async for doc in cursor:
        yield doc["_id"], AccountActivity(doc.get("last_activity_at"), _points(doc))


async def members_recorded_after(
    mongo: Mongo, after: datetime, session: AsyncClientSession | None = None
) -> list[str]:
    """The members with an entry recorded after `after`: one range of the entries' `recorded_at`
    index, grouped by member in the database."""
    pipeline: list[Document] = [
        {"$match": {"recorded_at": {"$gt": after}}},
        {"$group": {"_id": "$member_id"}},
    ]
    cursor = await mongo["ledger"].aggregate(pipeline, session=session)
    return [row["_id"] async for row in cursor]


@dataclass(frozen=True, slots=True)
class FirstHold:
    """The hold a key's first request made, and the fingerprint of that request."""

    hold: Hold
    fingerprint: str | None


async def first_hold(mongo: Mongo, idempotency_key: str) -> FirstHold | None:
    """The hold made under `idempotency_key`, if any: a replay of a hold answers with it."""
    found = await mongo["holds"].find_one({"idempotency_key": idempotency_key})
    if found is None:
        return None
    return FirstHold(Hold.from_document(found), found.get("request_hash"))


async def holds_live(
    mongo: Mongo, member_id: str, *, reference: str, key_prefix: str, now: datetime
) -> bool:
    """Whether the member has a hold for `reference`, made under a key starting with `key_prefix`
    (a partner's), that is active and not past its TTL at `now`: one indexed read."""
    query = {
        "member_id": member_id,
        "status": HoldStatus.ACTIVE.value,
        "reference": reference,
        "expires_at": {"$gt": now},
        "idempotency_key": {"$regex": f"^{re.escape(key_prefix)}"},
    }
    return await mongo["holds"].find_one(query, {"_id": 1}) is not None
