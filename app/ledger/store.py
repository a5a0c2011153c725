"""Loading books from MongoDB and saving what an operation changed, inside one transaction.

A book is read with two commands (the accounts, then every lot still holding points) and saved
with at most four (accounts, lots, holds, ledger: one bulk command each), whatever the number of
members in it. The account write comes first: concurrent operations on one member conflict there
(snapshot isolation turns that into a TransientTransactionError), and the runner retries them
from the start; the ledger insert comes last, so a replayed key fails on its unique index only
after every other write, and the whole transaction is aborted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

from bson import ObjectId
from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import BulkWriteError, OperationFailure, PyMongoError

from app.db import Document, Mongo, run_in_transaction
from app.ledger.book import AccountState, Book, HoldState, LotState, Request
from app.ledger.errors import IdempotencyConflict, InvalidRequest, LedgerError
from app.ledger.models import Entry

T = TypeVar("T")

# Many requests may race for one member (a flash sale); a write conflict is cheap to retry, and
# the runner backs off between attempts, but the bound stays finite.
LEDGER_TXN_ATTEMPTS = 60
LOT_BATCH = 10_000  # documents per cursor batch: a member's live lots come back in one reply


class StaleAccount(PyMongoError):
    """The account changed under a transaction; the runner retries it like a write conflict."""

    def __init__(self, member_id: str) -> None:
        super().__init__(
            f"account {member_id} changed during the transaction",
            error_labels=["TransientTransactionError"],
        )


async def run(mongo: Mongo, work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
    attempts = max(mongo.max_txn_attempts, LEDGER_TXN_ATTEMPTS)
    return await run_in_transaction(mongo.client, work, max_attempts=attempts)


def instant(value: datetime) -> datetime:
    """An aware instant in UTC, cut to the millisecond MongoDB keeps, so that what an operation
    returns equals what a replay reads back."""
    if value.tzinfo is None:
        raise InvalidRequest(f"instant {value} must be timezone-aware")
    return value.astimezone(UTC).replace(microsecond=value.microsecond // 1000 * 1000)


def fingerprint(operation: str, **request: Any) -> str:
    """A stable digest of what was asked, to tell a replay from a different request under the same key."""
    body = json.dumps({"op": operation, **request}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


async def run_once(
    mongo: Mongo,
    key: str,
    digest: str,
    work: Callable[[AsyncClientSession], Awaitable[T]],
    replay: Callable[[Document], T],
    collection: str = "ledger",
) -> T:
    """Run `work` unless `key` was already used: a replay returns the first result and changes nothing.

    The happy path costs no extra read: the first request's record holds the key under a unique
    index, so a replay fails on insert (or earlier, on a rule the first request already spent,
    like the points being gone) and only then is the first result looked up.
    """
    try:
        return await run(mongo, work)
    except (OperationFailure, LedgerError) as exc:
        if isinstance(exc, OperationFailure) and not is_duplicate_key(exc):
            raise
        first = await mongo[collection].find_one({"idempotency_key": key})
        if first is None:
            raise
        if first.get("request_hash") != digest:
            raise IdempotencyConflict(key) from exc
        return replay(first)


async def record(
    mongo: Mongo,
    member_id: str,
    now: datetime,
    request: Request,
    change: Callable[[Book], Document],
) -> Entry:
    """One operation making one entry on one member's book: load, change, save; idempotent."""

    async def work(session: AsyncClientSession) -> Entry:
        book = await load_book(mongo, session, member_id, now)
        entry = change(book)
        await save_books(mongo, session, [book])
        return Entry.from_document(entry)

    return await run_once(mongo, request.key, request.fingerprint, work, Entry.from_document)


async def load_books(
    mongo: Mongo,
    session: AsyncClientSession,
    member_ids: Iterable[str],
    now: datetime,
    *,
    lot_ids: Iterable[ObjectId] = (),
) -> dict[str, Book]:
    """The accounts and live lots (plus the named lots) of the members, caught up with `now`."""
    members = sorted(set(member_ids))
    accounts = {
        doc["_id"]: AccountState.from_document(doc)
        async for doc in mongo["accounts"].find(
            {"_id": {"$in": members}}, session=session, batch_size=LOT_BATCH
        )
    }
    query: Document = {"member_id": {"$in": members}, "remaining": {"$gt": 0}}
    extra = list(lot_ids)
    if extra:
        query = {"$or": [query, {"_id": {"$in": extra}}]}
    lots: dict[str, list[LotState]] = {member: [] for member in members}
    async for doc in mongo["lots"].find(query, session=session, batch_size=LOT_BATCH):
        lots[doc["member_id"]].append(LotState.from_document(doc))
    books = {}
    for member in members:
        book = Book(accounts.get(member) or AccountState(member), lots[member], now)
        book.catch_up(now)
        books[member] = book
    return books


async def load_book(
    mongo: Mongo,
    session: AsyncClientSession,
    member_id: str,
    now: datetime,
    *,
    lot_ids: Iterable[ObjectId] = (),
) -> Book:
    return (await load_books(mongo, session, [member_id], now, lot_ids=lot_ids))[member_id]


async def save_books(mongo: Mongo, session: AsyncClientSession, books: Iterable[Book]) -> None:
    """Write what the operation changed: accounts, lots, holds, ledger entries; one command each."""
    accounts: list[UpdateOne] = []
    lots: list[InsertOne[Document] | UpdateOne] = []
    holds: list[InsertOne[Document] | UpdateOne] = []
    entries: list[Document] = []
    touched = [
        book for book in books if book.touched or any(lot.dirty for lot in book.lots.values())
    ]
    for book in touched:
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
    if lots:
        await mongo["lots"].bulk_write(lots, ordered=True, session=session)
    if holds:
        await mongo["holds"].bulk_write(holds, ordered=True, session=session)
    if entries:
        await mongo["ledger"].insert_many(entries, ordered=True, session=session)


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
    for fixed in ("_id", "member_id", "amount", "earned_at", "policy", "source_entry_id"):
        doc.pop(fixed)
    return doc


async def load_holds(
    mongo: Mongo, session: AsyncClientSession, query: Document, limit: int = 0
) -> list[HoldState]:
    cursor = mongo["holds"].find(query, session=session, limit=limit, batch_size=LOT_BATCH)
    return [HoldState.from_document(doc) async for doc in cursor]
