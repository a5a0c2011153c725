"""Expiry warnings: for each lead time, each member and each expiry instant, exactly one warning.

At `as_of`, the points expiring within the longest lead time are summed per member and expiry
instant, counted as the member's `balance.nextExpiry` and `expiringPoints` count them (available,
unreserved points: app/ledger/expiring.py), so a warning never names a number the member's own
view contradicts. Each group gets a warning for the tightest lead time that already applies (points
found 5 days before expiry get the 7-day warning, not a late 30-day one too); the dedupe key
(member, instant, lead) is unique, so a rerun or a second worker inserts nothing more. Each
warning is logged as a `points.expiring` event (app/event_log.py) in the transaction that inserts
it: once per member, expiry instant and lead time. Points that were spent, expired, held or are
still pending are not in the sum, so they are not warned about: pending points are, at the next
run after they become available.

A warning reaches the member outside the app (push, SMS, e-mail) through app/messaging, which
routes each new notification by the member's channels, preferences and quiet hours.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import BulkWriteError, DuplicateKeyError

from app.clock import Clock
from app.db import Document, Mongo
from app.event_log import append_many, event, to_ms
from app.ledger import expiring_by_instant, expiring_by_member

log = logging.getLogger(__name__)

DEFAULT_LEAD_DAYS: tuple[int, ...] = (30, 7, 1)
KIND = "expiry_warning"
MAX_BATCH_RACES = 3
DUPLICATE_KEY = 11000


@dataclass(frozen=True)
class ExpiryWarning:
    member_id: str
    points: int
    expires_at: datetime
    days_left: int
    lead_days: int


def days_left(expires_at: datetime, as_of: datetime) -> int:
    """Whole days until the instant, rounded up: 36 hours left is 2 days left."""
    return max(0, math.ceil((expires_at - as_of) / timedelta(days=1)))


def tightest_lead(expires_at: datetime, as_of: datetime, leads: Sequence[int]) -> int | None:
    applicable = [lead for lead in leads if expires_at - as_of <= timedelta(days=lead)]
    return min(applicable) if applicable else None


def dedupe_key(member_id: str, expires_at: datetime, lead_days: int) -> str:
    return f"{KIND}:{member_id}:{expires_at.isoformat()}:{lead_days}"


def to_document(warning: ExpiryWarning, now: datetime) -> Document:
    return {
        "kind": KIND,
        "member_id": warning.member_id,
        "points": warning.points,
        "expires_at": warning.expires_at,
        "days_left": warning.days_left,
        "lead_days": warning.lead_days,
        "dedupe_key": dedupe_key(warning.member_id, warning.expires_at, warning.lead_days),
        "created_at": now,
        "read_at": None,
    }


async def issue_expiry_warnings(
    mongo: Mongo,
    clock: Clock,
    *,
    as_of: datetime | None = None,
    leads: Sequence[int] = DEFAULT_LEAD_DAYS,
    batch_size: int = 100,
) -> int:
    """Issue the warnings due at `as_of`; returns how many were new. Safe to rerun and to race.

    A warning is seen (live, in the list, by push) once its batch is inserted, so the batch size
    is a latency: 10,000 warnings in batches of 500 arrived 600 ms (median) after they were
    stamped, in batches of 100 after 99 ms, and all were issued sooner (8.4 s instead of 12.1 s,
    bench/subscriptions.py): 100 more insert commands for 10,000 warnings."""
    as_of = as_of or clock.now()
    horizon = as_of + timedelta(days=max(leads))
    issued = 0
    batch: list[ExpiryWarning] = []
    async for member_id, expires_at, points in expiring_by_member(
        mongo, after=as_of, until=horizon
    ):
        lead = tightest_lead(expires_at, as_of, leads)
        if lead is None:
            continue
        batch.append(
            ExpiryWarning(
                member_id=member_id,
                points=points,
                expires_at=expires_at,
                days_left=days_left(expires_at, as_of),
                lead_days=lead,
            )
        )
        if len(batch) >= batch_size:
            issued += await _insert(mongo, clock, batch)
            batch = []
    if batch:
        issued += await _insert(mongo, clock, batch)
    if issued:
        log.info("issued %d expiry warnings as of %s", issued, as_of.isoformat())
    return issued


async def _insert(mongo: Mongo, clock: Clock, warnings: list[ExpiryWarning]) -> int:
    """The batch's new warnings with their `points.expiring` events, in one transaction. The
    keys already issued are read first and left out, so a rerun (every pass finds the warnings
    of the horizon again) writes nothing and opens no transaction. A second writer that inserts
    one of the keys between that read and the insert aborts the transaction with a duplicate
    key: the batch is read again."""
    now = clock.now()
    documents = [to_document(warning, now) for warning in warnings]
    for race in range(MAX_BATCH_RACES + 1):
        new = await _not_issued(mongo, warnings, documents)
        if not new:
            return 0

        try:
            return await mongo.transaction(partial(_write, mongo, new))
        except (DuplicateKeyError, BulkWriteError) as exc:
            duplicate = isinstance(exc, DuplicateKeyError) or all(
                error.get("code") == DUPLICATE_KEY for error in exc.details["writeErrors"]
            )
            if not duplicate or race == MAX_BATCH_RACES:
                raise
    raise AssertionError("unreachable")


async def _write(mongo: Mongo, new: list[Document], session: AsyncClientSession) -> int:
    fresh = [dict(document) for document in new]  # a rerun attempt inserts its own copy
    await mongo["notifications"].insert_many(fresh, session=session)
    await append_many(mongo, session, [expiring_event(document) for document in fresh])
    return len(fresh)


async def _not_issued(
    mongo: Mongo, warnings: list[ExpiryWarning], documents: list[Document]
) -> list[Document]:
    """The documents whose dedupe key is not issued yet. Read by the (member_id, kind,
    expires_at) index: the dedupe key's is partial, and a `$in` over it was a collection scan on
    the embedded database (0.3 s a batch of 100 at 2,000 warnings)."""
    found = mongo["notifications"].find(
        {
            "member_id": {"$in": sorted({warning.member_id for warning in warnings})},
            "kind": KIND,
            "expires_at": {"$gte": min(warning.expires_at for warning in warnings)},
        },
        {"dedupe_key": 1},
    )
    issued = {document.get("dedupe_key") async for document in found}
    return [document for document in documents if document["dedupe_key"] not in issued]


def expiring_event(warning: Document) -> Document:
    """`points.expiring` (app.event_log): one per member, expiry instant and lead time, as the
    warning it comes with."""
    expires_at: datetime = warning["expires_at"]
    return event(
        "points.expiring",
        warning["member_id"],
        {
            "points": warning["points"],
            "expires_at": to_ms(expires_at).isoformat(timespec="milliseconds"),
            "days_left": warning["days_left"],
            "lead_days": warning["lead_days"],
            "notification_id": str(warning["_id"]),
        },
        key=warning["dedupe_key"],
        occurred_at=warning["created_at"],
    )


async def relevant_warnings(mongo: Mongo, member_id: str, now: datetime) -> list[ExpiryWarning]:
    """Warnings already issued that still matter: expiry in the future and points still there.

    One warning per expiry instant (the latest issued), with the points as they are now.
    """
    latest: dict[datetime, Document] = {}
    async for document in (
        mongo["notifications"]
        .find({"member_id": member_id, "kind": KIND, "expires_at": {"$gt": now}})
        .sort("created_at", 1)
    ):
        latest[document["expires_at"]] = document
    if not latest:
        return []
    # each instant after now, as found above
    remaining = dict(await expiring_by_instant(mongo, member_id, after=now, instants=list(latest)))
    warnings = []
    for expires_at, document in sorted(latest.items()):
        points = remaining.get(expires_at, 0)
        if points > 0:
            warnings.append(
                ExpiryWarning(
                    member_id=member_id,
                    points=points,
                    expires_at=expires_at,
                    days_left=days_left(expires_at, now),
                    lead_days=int(document["lead_days"]),
                )
            )
    return warnings
