"""Loading books from MongoDB and saving what an operation changed, inside one transaction.

A member's book is read with one command for the account and, when the operation takes points,
one for the front lots that cover them (a range of the spending order, see app.ledger.order);
more only when something is due, or the front runs short and is refilled further along the
order. It is saved with at most four (accounts, lots, holds, ledger: one bulk command each, plus
one per inactivity policy an activity renewed), whatever the number of members in it. The account write comes first: concurrent operations on one member conflict there
(snapshot isolation turns that into a TransientTransactionError), and the runner retries them
from the start; the ledger insert comes last, so a replayed key fails on its unique index only
after every other write, and the whole transaction is aborted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import BulkWriteError, OperationFailure, PyMongoError

from app import deadlines
from app.clock import to_millisecond
from app.db import Document, Mongo, run_in_transaction
from app.event_log import append_many
from app.ledger import order
from app.ledger.book import Book
from app.ledger.book import front as fronts
from app.ledger.errors import HoldNotFound, InvalidRequest
from app.ledger.events import ledger_events
from app.ledger.lapse import release_lapsed
from app.ledger.models import Balance, LotStatus
from app.ledger.state import LIVE, HoldState, LotState

T = TypeVar("T")

# Many requests may race for one member (a flash sale); a write conflict is cheap to retry, and
# the runner backs off between attempts, but the bound stays finite: in attempts, and in time.
# An API request brings its own budget (JIFEN_REQUEST_TIMEOUT_SECONDS); outside one (the worker,
# the CLI) a transaction gets LEDGER_TXN_SECONDS, so a dead database fails it in bounded time.
LEDGER_TXN_ATTEMPTS = 60
LEDGER_TXN_SECONDS = 30.0
LOT_BATCH = 10_000  # documents per cursor batch: a range of lots comes back in one reply


class StaleAccount(PyMongoError):
    """The account changed under a transaction; the runner retries it like a write conflict."""

    def __init__(self, member_id: str) -> None:
        super().__init__(
            f"account {member_id} changed during the transaction",
            error_labels=["TransientTransactionError"],
        )


async def run(mongo: Mongo, work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
    attempts = max(mongo.max_txn_attempts, LEDGER_TXN_ATTEMPTS)
    if deadlines.remaining() is not None:
        return await run_in_transaction(mongo.client, work, max_attempts=attempts)
    with deadlines.time_budget(LEDGER_TXN_SECONDS):
        return await run_in_transaction(mongo.client, work, max_attempts=attempts)


def instant(value: datetime) -> datetime:
    """An aware instant in UTC, cut to the millisecond MongoDB keeps, so that what an operation
    returns equals what a replay reads back."""
    if value.tzinfo is None:
        raise InvalidRequest(f"instant {value} must be timezone-aware")
    return to_millisecond(value.astimezone(UTC))


def fingerprint(operation: str, **request: Any) -> str:
    """A stable digest of what was asked, to tell a replay from a different request under the same key."""
    body = json.dumps({"op": operation, **request}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


async def load_accounts(
    mongo: Mongo, session: AsyncClientSession, member_ids: Iterable[str], now: datetime
) -> dict[str, Book]:
    """Books of the members with their accounts only (a batch job adds the lots it found due)."""
    members = sorted(set(member_ids))
    accounts = {
        doc["_id"]: Balance.from_document(doc)
        async for doc in mongo["accounts"].find(
            {"_id": {"$in": members}}, session=session, batch_size=LOT_BATCH
        )
    }
    return {m: Book(accounts.get(m) or Balance(m), [], now) for m in members}


async def load_books(
    mongo: Mongo,
    session: AsyncClientSession,
    member_ids: Iterable[str],
    now: datetime,
    *,
    lot_ids: Iterable[ObjectId] = (),
) -> dict[str, Book]:
    """The accounts of the members with the lots that are due (and the named lots), caught up with `now`.

    Used by the batch jobs: a member's operations load their own book with `load_book`.
    """
    books = await load_accounts(mongo, session, member_ids, now)
    extra = list(lot_ids)
    if extra:
        async for doc in mongo["lots"].find({"_id": {"$in": extra}}, session=session):
            books[doc["member_id"]].add([LotState.from_document(doc)])
    for book in books.values():
        await _catch_up(mongo, session, book, now)
    return books


async def load_book(
    mongo: Mongo,
    session: AsyncClientSession | None,
    member_id: str,
    now: datetime,
    *,
    lot_ids: Iterable[ObjectId] = (),
    points: int = 0,
    everything: bool = False,
) -> Book:
    """One member's book with what an operation needs, caught up with `now`.

    Two commands in the usual case: the account, and the front lots that cover `points`. More only
    when something is due, when the front runs short of `points`, or for the named lots (a hold's,
    a refunded earn's). `everything` loads every live lot (清零, extending expiries).
    """
    doc = await mongo["accounts"].find_one({"_id": member_id}, session=session)
    return await open_book(
        mongo, session, member_id, doc, now, lot_ids=lot_ids, points=points, everything=everything
    )


async def open_book(
    mongo: Mongo,
    session: AsyncClientSession | None,
    member_id: str,
    doc: Document | None,
    now: datetime,
    *,
    lot_ids: Iterable[ObjectId] = (),
    points: int = 0,
    everything: bool = False,
) -> Book:
    """`load_book` from the account document already read (None: there is none yet; a document
    with no version is one an express earn's guard left empty, app.ledger.express)."""
    account = Balance(member_id)
    if doc is not None and "version" in doc:
        account = Balance.from_document(doc)
    book = Book(account, [], now)
    ids = list(lot_ids)
    if ids:
        book.add(await _lots(mongo, session, {"_id": {"$in": ids}}))
    if everything:
        for status in LIVE:
            book.add(await _lots(mongo, session, {"member_id": member_id, "status": status.value}))
        book.pending_loaded = book.whole = True
        book.scanned = None
    await _catch_up(mongo, session, book, now)
    await release_lapsed(mongo, session, book, now)  # holds past their TTL give their points back
    if points:
        await refill(mongo, session, book, points)
    return book


async def load_whole_books(
    mongo: Mongo, session: AsyncClientSession, member_ids: Iterable[str], now: datetime
) -> dict[str, Book]:
    """Many members' books with every live lot (清零 and extending, in batches), caught up with
    `now`: the accounts in one command and their live lots in another, whatever their number."""
    books = await load_accounts(mongo, session, member_ids, now)
    query = {"member_id": {"$in": list(books)}, "status": {"$in": [s.value for s in LIVE]}}
    for lot in await _lots(mongo, session, query):
        books[lot.member_id].add([lot])
    for book in books.values():
        book.pending_loaded = book.whole = True
        book.scanned = None
        book.catch_up(now)  # whatever is due is loaded already: no range to read
    return books


async def _catch_up(
    mongo: Mongo, session: AsyncClientSession | None, book: Book, now: datetime
) -> None:
    """Load what is due (only when the account says something is) and apply it."""
    if book.due(now) and not book.whole:
        acc = book.account
        member = acc.member_id
        if acc.dated_next is not None and acc.dated_next[0] <= now:
            book.add(await _range(mongo, session, member, order.DATED, order.dated_bound(now)))
        for cls in acc.classes.values():
            if cls.lots > 0 and cls.expires_at <= now:
                low, high = order.class_range(cls.name)
                book.add(await _range(mongo, session, member, low, high))
        if acc.pending_due is not None and acc.pending_due <= now and not book.pending_loaded:
            pending = {"member_id": member, "status": LotStatus.PENDING.value}
            book.add(await _lots(mongo, session, pending))
            book.pending_loaded = True
    book.catch_up(now)


async def refill(
    mongo: Mongo, session: AsyncClientSession | None, book: Book, points: int = 0
) -> None:
    """Read further along the spending order until the front covers `points` (or, with 0, until it
    is healthy again), then load the front lots that cover `points`."""
    if book.needs_refill(points):
        _, end = book.front_view()
        acc = book.account
        ranges = order.search_ranges(
            end or "", book.now, acc.lots_issued, sorted(acc.classes), fronts.FRONT_SIZE * 4
        )
        for low, high in ranges:
            book.scan(high, await _range(mongo, session, acc.member_id, low, high, inclusive=False))
            if not book.needs_refill(points):
                break
    span = book.front_lots(points)
    if span is not None:
        book.add(await _range(mongo, session, book.account.member_id, span[0], span[1]))


async def _range(
    mongo: Mongo,
    session: AsyncClientSession | None,
    member_id: str,
    low: str,
    high: str,
    *,
    inclusive: bool = True,
) -> list[LotState]:
    """The member's available lots with `order` in [low, high] (or (low, high]): one index range."""
    bounds = {"$gte" if inclusive else "$gt": low, "$lte": high}
    query = {"member_id": member_id, "status": LotStatus.AVAILABLE.value, "order": bounds}
    return await _lots(mongo, session, query)


async def lots_by_id(
    mongo: Mongo, session: AsyncClientSession | None, lot_ids: Iterable[ObjectId]
) -> list[LotState]:
    """The named lots, whatever their status (a refunded earn's lot)."""
    return await _lots(mongo, session, {"_id": {"$in": list(lot_ids)}})


async def _lots(
    mongo: Mongo, session: AsyncClientSession | None, query: Document
) -> list[LotState]:
    cursor = mongo["lots"].find(query, session=session, batch_size=LOT_BATCH)
    return [LotState.from_document(doc) async for doc in cursor]


async def settle(mongo: Mongo, session: AsyncClientSession | None, book: Book) -> None:
    """After the operation: keep the front healthy and know the soonest instant's total."""
    await refill(mongo, session, book)
    instant = book.dated_mass_open()
    if instant is not None:
        entries, end = book.front_view()
        assert end is not None
        beyond = await _range(
            mongo, session, book.account.member_id, end, order.mass_end(end), inclusive=False
        )
        book.mass_beyond[instant] = sum(book.lots.get(lot.id, lot).available for lot in beyond)


async def save_books(
    mongo: Mongo,
    session: AsyncClientSession,
    books: Iterable[Book],
    events: Sequence[Document] = (),
) -> None:
    """Write what the operation changed: accounts, lots, holds, ledger entries, and the events of
    all of them with `events` (the caller's own); one command each (and one per inactivity
    policy whose points the activity renewed)."""
    accounts: list[UpdateOne] = []
    lots: list[InsertOne[Document] | UpdateOne] = []
    holds: list[InsertOne[Document] | UpdateOne] = []
    entries: list[Document] = []
    books = list(books)
    touched = [
        book for book in books if book.touched or any(lot.dirty for lot in book.lots.values())
    ]
    for book in touched:
        await settle(mongo, session, book)
        acc = book.account
        accounts.append(
            UpdateOne(
                {"_id": acc.member_id, "version": acc.version}
                if acc.version
                else {"_id": acc.member_id},
                {"$set": {**book.account_document(), "seq": number_entries(book)}},
                upsert=acc.version == 0,
            )
        )
        for lot in book.lots.values():
            if lot.new:
                lots.append(InsertOne(lot.to_document()))
            elif lot.dirty:
                lots.append(UpdateOne({"_id": lot.id}, {"$set": _lot_changes(lot)}))
        for hold in book.holds.values():
            if hold.new:
                holds.append(InsertOne(hold.to_document()))
            elif hold.dirty:
                holds.append(UpdateOne({"_id": hold.id}, {"$set": hold.to_document()}))
        entries.extend(book.entries)
    if accounts:
        try:
            result = await mongo["accounts"].bulk_write(accounts, ordered=False, session=session)
        except BulkWriteError as exc:
            if is_duplicate_key(exc):  # two first operations of a new member raced to create it
                raise StaleAccount(touched[0].account.member_id) from exc
            raise
        if result.matched_count + result.upserted_count != len(accounts):
            raise StaleAccount(",".join(book.account.member_id for book in touched))
    for book in touched:
        await _renew(mongo, session, book)
    if lots:
        await mongo["lots"].bulk_write(lots, ordered=True, session=session)
    if holds:
        await mongo["holds"].bulk_write(holds, ordered=True, session=session)
    if entries:
        await mongo["ledger"].insert_many(entries, ordered=True, session=session)
    # their events, in the same transaction (app/event_log.py): one command for all of them
    changed_holds = [hold for book in touched for hold in book.holds.values()]
    await append_many(mongo, session, [*ledger_events(entries, changed_holds), *events])


async def _renew(mongo: Mongo, session: AsyncClientSession, book: Book) -> None:
    """Move the expiry of every live lot of the inactivity policies the activity renewed (a book
    with every live lot in memory moved them there, and writes them with its lots)."""
    if book.whole:
        return
    for name, until in book.renewed.items():
        low, high = order.class_range(name)
        statuses = [LotStatus.AVAILABLE] + ([LotStatus.PENDING] if book.pending() else [])
        for status in statuses:
            await mongo["lots"].update_many(
                {
                    "member_id": book.account.member_id,
                    "status": status.value,
                    "order": {"$gte": low, "$lte": high},
                    "expires_at": {"$lt": until},
                },
                {"$set": {"expires_at": until}},
                session=session,
            )


def number_entries(book: Book) -> int:
    """Give the book's new entries the member's next sequence numbers; returns the last one.

    Gapless per member: the numbers come from the account, whose versioned write makes
    concurrent writers of one member conflict, and the loser retries with the new last number.
    """
    seq = book.account.seq
    for entry in book.entries:
        seq += 1
        entry["seq"] = seq
    return seq


def is_duplicate_key(exc: OperationFailure) -> bool:
    if exc.code == 11000:
        return True
    details = exc.details or {}
    return any(error.get("code") == 11000 for error in details.get("writeErrors", []))


def _lot_changes(lot: LotState) -> Document:
    doc = lot.to_document()
    for fixed in ("_id", "member_id", "amount", "earned_at", "policy", "source_entry_id", "seq"):
        doc.pop(fixed)
    return doc


async def load_holds(
    mongo: Mongo, session: AsyncClientSession, query: Document, limit: int = 0
) -> list[HoldState]:
    cursor = mongo["holds"].find(query, session=session, limit=limit, batch_size=LOT_BATCH)
    return [HoldState.from_document(doc) async for doc in cursor]


async def find_hold(mongo: Mongo, session: AsyncClientSession | None, hold_id: str) -> HoldState:
    """The hold as stored, read in the transaction (HoldNotFound)."""
    doc = await mongo["holds"].find_one({"_id": hold_object_id(hold_id)}, session=session)
    if doc is None:
        raise HoldNotFound(hold_id)
    return HoldState.from_document(doc)


def hold_object_id(hold_id: str) -> ObjectId:
    try:
        return ObjectId(hold_id)
    except (InvalidId, TypeError):
        raise HoldNotFound(hold_id) from None


async def due_lots(
    mongo: Mongo, session: AsyncClientSession, queries: list[Document], limit: int
) -> tuple[list[LotState], bool]:
    """Up to `limit` due lots, and whether that was the last of them."""
    found: list[LotState] = []
    for query in queries:
        left = limit - len(found)
        if left <= 0:
            return found, False
        cursor = mongo["lots"].find(query, session=session, limit=left, batch_size=left)
        found += [LotState.from_document(doc) async for doc in cursor]
    return found, len(found) < limit
