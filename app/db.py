"""The MongoDB client of the process, the index list, and the retrying transaction runner."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure, PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.read_preferences import ReadPreference
from pymongo.write_concern import WriteConcern

log = logging.getLogger(__name__)

T = TypeVar("T")
Document = dict[str, Any]

# Every index the product relies on, in one place; ensured at start-up.
INDEXES: dict[str, list[IndexModel]] = {
    "members": [
        IndexModel(
            [("phone", ASCENDING)],
            unique=True,
            partialFilterExpression={"phone": {"$type": "string"}},
        ),
        IndexModel([("member_no", ASCENDING)], unique=True),
    ],
    "accounts": [
        IndexModel([("next_expiry.expires_at", ASCENDING)]),
        IndexModel([("last_activity_at", ASCENDING)]),
    ],
    "lots": [
        IndexModel(
            [
                ("member_id", ASCENDING),
                ("status", ASCENDING),
                ("expires_at", ASCENDING),
                ("earned_at", ASCENDING),
            ]
        ),
        IndexModel([("status", ASCENDING), ("expires_at", ASCENDING)]),
        IndexModel([("status", ASCENDING), ("available_at", ASCENDING)]),
        IndexModel([("source_entry_id", ASCENDING)]),
        # the spending order of a member's lots by status: every lot read is one range of it
        IndexModel([("member_id", ASCENDING), ("status", ASCENDING), ("order", ASCENDING)]),
    ],
    "ledger": [
        # A member's entries numbered 1, 2, 3, ... without gaps: history pages are ranges of it.
        # Partial on seq >= 1 (entries written before numbering have none): a planner sees that
        # a range of numbers lies inside that filter, where it cannot for `$type: number`.
        IndexModel(
            [("member_id", ASCENDING), ("seq", ASCENDING)],
            unique=True,
            partialFilterExpression={"seq": {"$gte": 1}},
        ),
        IndexModel([("member_id", ASCENDING), ("occurred_at", DESCENDING), ("_id", DESCENDING)]),
        IndexModel(
            [("idempotency_key", ASCENDING)],
            unique=True,
            partialFilterExpression={"idempotency_key": {"$type": "string"}},
        ),
    ],
    "holds": [
        IndexModel([("member_id", ASCENDING), ("status", ASCENDING)]),
        IndexModel([("status", ASCENDING), ("expires_at", ASCENDING)]),
        IndexModel(
            [("idempotency_key", ASCENDING)],
            unique=True,
            partialFilterExpression={"idempotency_key": {"$type": "string"}},
        ),
    ],
    "rewards": [
        IndexModel([("active", ASCENDING), ("points_price", ASCENDING), ("_id", ASCENDING)]),
    ],
    "redemptions": [
        IndexModel([("member_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]),
        IndexModel([("entry_id", ASCENDING)], unique=True),  # a replay finds it by its entry
        IndexModel(
            [("coupon_code", ASCENDING)],
            unique=True,
            partialFilterExpression={"coupon_code": {"$type": "string"}},
        ),
    ],
    "notifications": [
        IndexModel(
            [("dedupe_key", ASCENDING)],
            unique=True,
            partialFilterExpression={"dedupe_key": {"$type": "string"}},
        ),
        IndexModel([("member_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]),
        IndexModel([("member_id", ASCENDING), ("kind", ASCENDING), ("expires_at", ASCENDING)]),
    ],
    "outbox": [
        IndexModel([("status", ASCENDING), ("next_attempt_at", ASCENDING)]),
        IndexModel([("idempotency_key", ASCENDING)], unique=True),
    ],
    "refresh_tokens": [
        IndexModel([("token_hash", ASCENDING)], unique=True),
        IndexModel([("family_id", ASCENDING)]),
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0),
    ],
    "audit": [IndexModel([("at", DESCENDING)])],
    "leases": [],
    "program": [],
    "counters": [],
    "meta": [],  # one document per fact about the database itself (its ledger shape)
    "login_attempts": [
        IndexModel([("key", ASCENDING), ("at", ASCENDING)]),
        IndexModel([("attempt", ASCENDING)]),
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0),
    ],
    "login_locks": [IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0)],
    "rate_limits": [IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0)],
    "reward_claims": [],
    "push_devices": [],  # one document per device token (by digest): the member it belongs to
}


class TransactionFailed(Exception):
    """A transaction kept failing transiently after every allowed attempt."""


@dataclass
class Mongo:
    """The process's one client and the product database."""

    client: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    max_txn_attempts: int = 8

    def __getitem__(self, name: str) -> AsyncCollection[Document]:
        return self.db[name]

    async def ping(self) -> bool:
        try:
            await self.client.admin.command("ping")
        except PyMongoError:
            return False
        return True

    async def transaction(self, work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        return await run_in_transaction(self.client, work, max_attempts=self.max_txn_attempts)

    async def close(self) -> None:
        await self.client.close()


def connect(url: str, db_name: str, *, max_txn_attempts: int = 8, **options: Any) -> Mongo:
    """Build the client (lazy: no I/O until the first command)."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        url,
        tz_aware=True,
        w="majority",
        retryWrites=True,
        appname="jifen",
        **options,
    )
    return Mongo(client=client, db=client[db_name], max_txn_attempts=max_txn_attempts)


async def ensure_indexes(mongo: Mongo) -> None:
    existing = set(await mongo.db.list_collection_names())
    for name, indexes in INDEXES.items():
        if name not in existing:
            try:
                await mongo.db.create_collection(name)
            except OperationFailure as exc:
                if exc.code != 48:  # NamespaceExists: another process won the race
                    raise
        if indexes:
            await mongo.db[name].create_indexes(indexes)


def _backoff(attempt: int) -> float:
    return float(min(0.5, 0.005 * 2**attempt) * (0.5 + random.random()))


async def run_in_transaction(
    client: AsyncMongoClient[Document],
    work: Callable[[AsyncClientSession], Awaitable[T]],
    *,
    max_attempts: int = 8,
) -> T:
    """Run `work` in one snapshot/majority transaction, retrying transient failures a bounded number of times.

    TransientTransactionError reruns the whole transaction (the server aborted it);
    UnknownTransactionCommitResult retries only the commit, which the server makes idempotent.
    `work` must therefore be safe to run again from the start.
    """
    last_error: PyMongoError | None = None
    for attempt in range(1, max_attempts + 1):
        async with client.start_session() as session:
            try:
                await session.start_transaction(
                    read_concern=ReadConcern("snapshot"),
                    write_concern=WriteConcern("majority"),
                    read_preference=ReadPreference.PRIMARY,
                )
                result = await work(session)
                await _commit(session, max_attempts)
                return result
            except PyMongoError as exc:
                if session.in_transaction:
                    try:
                        await session.abort_transaction()
                    except PyMongoError:
                        log.debug("abort after failure failed", exc_info=True)
                if not _is_transient(exc):
                    raise
                last_error = exc
                log.info("transaction attempt %d failed transiently: %s", attempt, exc)
                await asyncio.sleep(_backoff(attempt))
    raise TransactionFailed(f"transaction failed after {max_attempts} attempts") from last_error


def _is_transient(exc: PyMongoError) -> bool:
    return exc.has_error_label("TransientTransactionError") or isinstance(exc, ConnectionFailure)


async def _commit(session: AsyncClientSession, max_attempts: int) -> None:
    for attempt in range(1, max_attempts + 1):
        try:
            await session.commit_transaction()
            return
        except PyMongoError as exc:
            if exc.has_error_label("UnknownTransactionCommitResult") and attempt < max_attempts:
                log.info("commit result unknown (attempt %d), retrying commit: %s", attempt, exc)
                await asyncio.sleep(_backoff(attempt))
                continue
            raise


async def upsert_and_get(
    collection: AsyncCollection[Document],
    query: Document,
    update: Document | list[Document],
    session: AsyncClientSession | None = None,
) -> Document:
    """findOneAndUpdate with upsert, returning the document after the update.

    Two first upserts of one document may race. On MongoDB the loser gets a duplicate key error
    and nothing was applied. SecantusDB (0.7) instead applies the loser's update and returns no
    document. Either way the document exists now and one retry updates it and returns it; on
    SecantusDB that retry applies the update a second time, so callers use this only where
    applying twice is harmless: an idempotent update, a counter that may skip a number.
    """
    for _ in range(2):
        try:
            document = await collection.find_one_and_update(
                query, update, upsert=True, return_document=ReturnDocument.AFTER, session=session
            )
        except DuplicateKeyError:
            continue
        if document is not None:
            return document
    raise RuntimeError(f"upsert into {collection.name} returned no document twice")
