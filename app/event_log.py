"""The event log: what changed, written in the caller's own transaction (a transactional outbox).

`append` (one event) and `append_many` (one command for several) insert into `events` through
the caller's session, so an event exists exactly when the change it describes committed: an
aborted transaction leaves none, a rerun attempt writes its own again. Nothing leaves the
process here; the webhooks worker (app/webhooks) reads the log after the commit.

An event document:

    {_id: its dedupe key (the same change never logs twice: "ledger:<entry id>"),
     type: "points.earned", v: 1, member_id, occurred_at (UTC, ms), data: {...},
     seq: the member's ledger sequence where the event is a ledger entry,
     partner_id where a partner caused it}

`events` holds only what no consumer has taken yet, under its `_id` index alone: the cheapest
insert for the write path (each index costs an insert about as much as the document). The
consumer (the webhooks' fan-out, app/webhooks) takes a batch in the collection's natural order
and, in one transaction, moves it to its own archive (indexed by time, for replays) and queues
its deliveries: the consumer's query needs no index of its own, since every document there is
one it wants.

Order per member. Ledger events carry the entry's `seq`: gapless per member and in commit order,
because the account's versioned write makes two writers of one member conflict (the loser
reruns, writing its event again, after the winner's). Other events (a member's profile, a
redemption's status) carry no sequence of their own: taking one would be one more command and
one more hot document per write. Instead one consumer at a time (the fan-out job, under its
lease) takes the events it has not seen yet, and each is ordered after every event of the member
it already took: the order is the order the consumer saw them commit. Within one batch, a
member's events are ordered by `occurred_at` and the ledger's among them by `seq` (two
transactions of one member may carry their `now` in the wrong order after a rerun; their seqs
never do). `claim_order` gives that order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from app.clock import to_millisecond
from app.db import Document, Mongo

EVENTS = "events"
SCHEMA_VERSION = 1
MAX_DATA_FIELDS = 64  # an event's data is a summary, never a whole document

# Whether appends write. Always, save in bench/notifications.py, which times the ledger's write
# without its event on the same database; no setting turns it off.
recording: ContextVar[bool] = ContextVar("event_log_recording", default=True)


def to_ms(instant: datetime) -> datetime:
    """The instant in UTC to the millisecond (what MongoDB keeps; naive means UTC already)."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return to_millisecond(instant.astimezone(UTC))


def event(
    type: str,
    member_id: str | None,
    data: dict[str, Any],
    *,
    key: str,
    occurred_at: datetime,
    seq: int | None = None,
    partner_id: str | None = None,
    version: int = SCHEMA_VERSION,
) -> Document:
    """An event document ready to append. Its `_id` is its dedupe key: the unique index every
    collection has already refuses a second copy, and an insert maintains one index fewer."""
    if len(data) > MAX_DATA_FIELDS:
        raise ValueError(f"an event's data has at most {MAX_DATA_FIELDS} fields")
    document: Document = {
        "_id": key,
        "type": type,
        "v": version,
        "member_id": member_id,
        "occurred_at": to_ms(occurred_at),
        "data": data,
    }
    if seq is not None:
        document["seq"] = seq
    if partner_id is not None:
        document["partner_id"] = partner_id
    return document


async def append(
    mongo: Mongo,
    session: AsyncClientSession,
    type: str,
    member_id: str | None,
    data: dict[str, Any],
    *,
    key: str,
    occurred_at: datetime,
    seq: int | None = None,
    partner_id: str | None = None,
) -> Document:
    """Log one event in the caller's transaction (`session` must be in one)."""
    document = event(
        type,
        member_id,
        data,
        key=key,
        occurred_at=occurred_at,
        seq=seq,
        partner_id=partner_id,
    )
    if recording.get():
        await mongo[EVENTS].insert_one(document, session=session)
    return document


async def append_many(
    mongo: Mongo, session: AsyncClientSession, documents: Sequence[Document]
) -> None:
    """Log events made by `event` in the caller's transaction: one command, whatever their number."""
    if documents and recording.get():
        await mongo[EVENTS].insert_many(list(documents), ordered=True, session=session)


def claim_order(events: Iterable[Document]) -> list[Document]:
    """A claimed batch in delivery order: by member, then `occurred_at` and `_id`, with the
    member's ledger events (those with a `seq`) placed among those positions in `seq` order."""
    by_member: dict[str | None, list[Document]] = {}
    for found in sorted(events, key=lambda e: (e["occurred_at"], e["_id"])):
        by_member.setdefault(found.get("member_id"), []).append(found)
    ordered: list[Document] = []
    for member_events in by_member.values():
        ledger = sorted((e for e in member_events if "seq" in e), key=lambda e: e["seq"])
        queue = iter(ledger)
        ordered.extend(next(queue) if "seq" in e else e for e in member_events)
    return ordered
