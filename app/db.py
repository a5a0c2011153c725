"""The MongoDB client of the process, the index list, and the retrying transaction runner."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pymongo
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure, PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.read_preferences import ReadPreference
from pymongo.write_concern import WriteConcern

from app import deadlines

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
        IndexModel([("name", ASCENDING), ("_id", ASCENDING)]),  # operators' search by name prefix
        IndexModel(
            [("admin_key", ASCENDING)],
            unique=True,
            partialFilterExpression={"admin_key": {"$type": "string"}},
        ),  # createMember's idempotency key
        # The old system's id of an imported member (app/importer). Sparse, not partial: only
        # imported members have it, and SecantusDB scans the collection for a partial index (a
        # range of legacy ids, 3 s a chunk).
        IndexModel([("legacy_id", ASCENDING)], unique=True, sparse=True),
        IndexModel([("tier", ASCENDING)]),  # bulk 清零 or extension by tier (app/corrections)
    ],
    "accounts": [
        IndexModel([("next_expiry.expires_at", ASCENDING)]),
        IndexModel([("last_activity_at", ASCENDING)]),
        # The tiers' qualifying points, a tally on the account (app/ledger/tally.py): due reviews
        # are one range of review_at (app/members/tier_review.py).
        IndexModel([("tier_progress.review_at", ASCENDING)]),
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
        IndexModel(
            [("idempotency_key", ASCENDING)],
            unique=True,
            partialFilterExpression={"idempotency_key": {"$type": "string"}},
        ),
        # Reports (app/reports): entries of a period, and those recorded since the rollup's mark.
        IndexModel([("occurred_at", ASCENDING)]),
        IndexModel([("recorded_at", ASCENDING)]),
    ],
    # The ledger's hourly rollup (app/reports/rollup.py): one document per hour, by _id; and the
    # pending points whose return window closes at an instant, by `at` (app/reports/moves.py).
    "ledger_hours": [],
    "ledger_maturities": [IndexModel([("at", ASCENDING)])],  # read by a range of it
    "ledger_days": [],  # the same sums per UTC day and month (app/reports/levels.py)
    "ledger_months": [],
    "ledger_earners": [],  # the top earners of a range, by _id (app/reports/earners.py)
    # The member activity tally (app/reports/activity.py): each member's last activity and points
    # as tallied, by the instant (a read splits the cut-off's day), and their sums by day.
    "activity_members": [IndexModel([("at", ASCENDING)])],
    "activity_days": [],
    "holds": [
        IndexModel([("member_id", ASCENDING), ("status", ASCENDING)]),
        IndexModel([("status", ASCENDING), ("expires_at", ASCENDING)]),
        # Reports: holds opened or closed in a range (the liability's held points, moves.py).
        IndexModel([("created_at", ASCENDING)]),
        IndexModel([("closed_at", ASCENDING)]),
        IndexModel(
            [("idempotency_key", ASCENDING)],
            unique=True,
            partialFilterExpression={"idempotency_key": {"$type": "string"}},
        ),
    ],
    "rewards": [
        IndexModel([("active", ASCENDING), ("points_price", ASCENDING), ("_id", ASCENDING)]),
        IndexModel(
            [("admin_key", ASCENDING)],
            unique=True,
            partialFilterExpression={"admin_key": {"$type": "string"}},
        ),  # createReward's idempotency key
    ],
    # Draws (app/draws): members list the open ones by end, operators page them all by end; a
    # replay finds its entry by the spend; a member pages their own entries newest first.
    "draws": [
        IndexModel([("closed", ASCENDING), ("ends_at", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("ends_at", DESCENDING), ("_id", DESCENDING)]),
        IndexModel(
            [("admin_key", ASCENDING)],
            unique=True,
            partialFilterExpression={"admin_key": {"$type": "string"}},
        ),
    ],
    "draw_entries": [
        IndexModel([("entry_id", ASCENDING)], unique=True),
        IndexModel([("draw_id", ASCENDING), ("created_at", ASCENDING)]),
        IndexModel([("member_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]),
    ],
    # Coupon batches (app/rewards/admin.py): the code is the id; a redemption claims a free one.
    "coupon_codes": [IndexModel([("reward_id", ASCENDING), ("status", ASCENDING)])],
    "redemptions": [
        IndexModel([("member_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]),
        IndexModel([("entry_id", ASCENDING)], unique=True),  # a replay finds it by its entry
        # 积分+现金 (app/rewards/cash.py): a replay finds it by its key (its hold makes no entry),
        # a payment by its order, the unpaid-redemptions job those past their window
        IndexModel(
            [("redeem_key", ASCENDING)],
            unique=True,
            partialFilterExpression={"redeem_key": {"$type": "string"}},
        ),
        IndexModel(
            [("order_id", ASCENDING)],
            unique=True,
            partialFilterExpression={"order_id": {"$type": "string"}},
        ),
        IndexModel(
            [("payment_due_at", ASCENDING)],
            partialFilterExpression={"payment_due_at": {"$type": "date"}},
        ),
        IndexModel([("created_at", ASCENDING)]),  # reports: the redemptions of a period
        # operators: a reward's redemptions, newest first (a recall, a supplier's question)
        IndexModel([("reward_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]),
        IndexModel(
            [("coupon_code", ASCENDING)],
            unique=True,
            partialFilterExpression={"coupon_code": {"$type": "string"}},
        ),
        # a till's retry of its coupon use, found by its key (one key, one use)
        IndexModel(
            [("coupon_used_by", ASCENDING), ("coupon_use_key", ASCENDING)],
            unique=True,
            partialFilterExpression={"coupon_use_key": {"$type": "string"}},
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
        IndexModel([("kind", ASCENDING), ("created_at", ASCENDING)]),  # operators' counts per day
        # app/messaging's next notifications to route (app/notifications/routing.py)
        IndexModel([("routed_at", ASCENDING), ("created_at", ASCENDING)]),
    ],
    # app/messaging: delivery records (due ones claimed by status and due_at; a member's newest
    # first; lapsed claims), each member's preferences (by _id), the daily caps (by _id)
    "messages": [
        IndexModel([("status", ASCENDING), ("due_at", ASCENDING)]),
        IndexModel([("member_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]),
        IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)]),
        IndexModel([("status", ASCENDING), ("claimed_until", ASCENDING)]),
        # an SMS provider's delivery report names the message by its id (app/messaging/callbacks.py)
        IndexModel(
            [("provider_id", ASCENDING)],
            partialFilterExpression={"provider_id": {"$type": "string"}},
        ),
    ],
    # members' replies to SMS, once each by "<provider>:<reply id>"; a member's, for erasure
    "sms_replies": [IndexModel([("member_id", ASCENDING)])],
    "outbox": [
        IndexModel([("status", ASCENDING), ("next_attempt_at", ASCENDING)]),
        IndexModel([("idempotency_key", ASCENDING)], unique=True),
        IndexModel([("member_id", ASCENDING)]),  # a member's deliveries: erasure (app/privacy)
    ],
    "refresh_tokens": [
        IndexModel([("token_hash", ASCENDING)], unique=True),
        IndexModel([("family_id", ASCENDING)]),
        IndexModel([("member_id", ASCENDING), ("revoked_at", ASCENDING)]),  # suspensions
        IndexModel([("purge_at", ASCENDING)], expireAfterSeconds=0),
    ],
    # The audit log (app/audit.py), newest first, whole or by target, actor or action.
    "audit": [
        IndexModel([("at", DESCENDING), ("_id", DESCENDING)]),
        IndexModel([("target", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)]),
        IndexModel([("actor", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)]),
        IndexModel([("action", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)]),
    ],
    # Imports of uploaded files (app/importer/uploads.py): a retry finds its job by key; the worker
    # takes the oldest due; a job's files are read by job and file, and purged a week on at most.
    "import_jobs": [
        IndexModel([("idempotency_key", ASCENDING)], unique=True),
        IndexModel([("status", ASCENDING), ("_id", ASCENDING)]),
    ],
    "import_parts": [
        IndexModel([("job", ASCENDING), ("file", ASCENDING)]),
        IndexModel([("purge_at", ASCENDING)], expireAfterSeconds=0),
    ],
    # Tiers (app/members/tiers.py): a member's tier changes numbered 1, 2, 3... for history pages.
    "tier_changes": [IndexModel([("member_id", ASCENDING), ("seq", ASCENDING)], unique=True)],
    # Check-in (one document per member) and activity counters (one per member and activity).
    "check_ins": [],
    "activity_counts": [],
    "leases": [],
    # An import's chunks in flight (app/importer): the ids whose books may be unfinished.
    "import_chunks": [],
    "program": [],
    "counters": [],
    "meta": [],  # one document per fact about the database itself (its ledger shape)
    # Erasures begun and not yet finished (app/privacy): the values still to be found, by member.
    "erasures": [IndexModel([("begun_at", ASCENDING)])],
    "login_attempts": [
        IndexModel([("key", ASCENDING), ("at", ASCENDING)]),
        IndexModel([("attempt", ASCENDING)]),
        IndexModel([("purge_at", ASCENDING)], expireAfterSeconds=0),
    ],
    "login_locks": [IndexModel([("purge_at", ASCENDING)], expireAfterSeconds=0)],
    "rate_limits": [IndexModel([("purge_at", ASCENDING)], expireAfterSeconds=0)],
    "console_links": [IndexModel([("purge_at", ASCENDING)], expireAfterSeconds=0)],
    "reward_claims": [],
    # One document per device token (by digest): the member it belongs to, and the last members
    # who held it (a referral ring's test, app/referrals).
    "push_devices": [IndexModel([("holders", ASCENDING)])],
    # The partner API (app/partners): partners, and per "<partner>:<order>" its order, its refunds
    # and the points captured for it; campaign budget counters; members' daily earn facts.
    "partners": [
        IndexModel(
            [("idempotency_key", ASCENDING)],
            unique=True,
            partialFilterExpression={"idempotency_key": {"$type": "string"}},
        ),
    ],
    "orders": [],
    "refunds": [],
    "order_points": [],
    "campaign_budgets": [],
    # Campaign results (app/partners/campaign_results.py): counts per campaign and group.
    "campaign_members": [
        IndexModel([("campaign", ASCENDING), ("group", ASCENDING), ("earned", ASCENDING)])
    ],
    "campaign_stats": [IndexModel([("campaign", ASCENDING)])],
    # Challenges (app/challenges): progress read by id; a member's badges.
    "challenge_progress": [],
    # Referrals (app/referrals): a member's code; due pending referrals; a referrer's per month.
    "referral_codes": [IndexModel([("member_id", ASCENDING)], unique=True)],
    "referrals": [
        IndexModel([("status", ASCENDING), ("matures_at", ASCENDING)]),
        IndexModel([("referrer_id", ASCENDING), ("status", ASCENDING), ("month", ASCENDING)]),
    ],
    "member_badges": [IndexModel([("member_id", ASCENDING), ("earned_at", ASCENDING)])],
    "earn_facts": [],
    # Bulk 清零 and extensions (app/corrections/bulk.py): jobs by key and the running ones oldest
    # first; each job's member ids in numbered batches ("<job>:<n>", read by id).
    "points_jobs": [
        IndexModel([("idempotency_key", ASCENDING)], unique=True),
        IndexModel([("status", ASCENDING), ("_id", ASCENDING)]),
    ],
    "points_job_members": [],
    # The event log (app/event_log.py): only the events no consumer took yet, under their _id
    # (the dedupe key) alone; the webhooks' fan-out takes them whole and moves them to its
    # archive, read by time for replays and purged by it.
    "events": [],
    "webhook_events": [
        IndexModel([("occurred_at", ASCENDING)]),
        IndexModel([("member_id", ASCENDING)]),  # an erasure finds a member's events
    ],
    # Webhooks (app/webhooks): endpoints are few (read whole); each (endpoint, member) queue's
    # counters by id; deliveries due by state and time, a queue's next by its number.
    "webhook_endpoints": [],
    "webhook_queues": [],
    "webhook_deliveries": [
        IndexModel([("state", ASCENDING), ("next_at", ASCENDING)]),
        IndexModel([("queue", ASCENDING), ("state", ASCENDING), ("seq", ASCENDING)]),
        IndexModel([("endpoint_id", ASCENDING), ("state", ASCENDING)]),
    ],
}

# Indexes an earlier version created and this one drops at start-up: TTL indexes on fields the
# logic reads with the injected clock (replaced by `purge_at`, see below), and indexes no query
# uses any more, each of which every insert and update still paid for (on the embedded database
# about as much as writing the document itself).
OBSOLETE_INDEXES: dict[str, list[str]] = {
    name: ["expires_at_1"]
    for name in ("refresh_tokens", "login_attempts", "login_locks", "rate_limits")
} | {
    "audit": ["at_-1"],  # replaced by (at, _id): pages need a unique order
    "lots": ["source_entry_id_1"],  # a refund finds the lot through its account, not its entry
    "ledger": ["member_id_1_occurred_at_-1__id_-1"],  # history pages are ranges of `seq`
    "members": ["import.batch_1"],  # an import's chunk journal replaced marking members done
}
_INDEX_NOT_FOUND = 27

# How much longer than the logic needs a document stays before the TTL monitor may delete it.
PURGE_GRACE = timedelta(hours=1)


def honour_cancellation() -> None:
    """Raise CancelledError if this task was cancelled during a database operation that ignored it.

    pymongo's async client (4.20) sometimes swallows a cancellation that arrives while an
    operation waits for its reply: the task goes on as if nothing happened, though
    `Task.cancelling()` still counts the request. Code about to wait for a long time after an
    operation (a subscription waiting for events) calls this first, or it would wait forever
    for a client that is gone.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def purge_at(keep_for: timedelta) -> datetime:
    """The instant a TTL index may delete a document that the logic needs for `keep_for`.

    A TTL index is garbage collection run by the database's own wall clock, so its field is
    stamped from the wall clock, never from the injected clock the logic decides with (a test's
    frozen clock, or a job's `--as-of`): otherwise the database could delete documents the logic
    still counts. The logic never reads this field.
    """
    return datetime.now(UTC) + keep_for + PURGE_GRACE


# What every write waits for before it is acknowledged (the client's default and each transaction's).
DURABLE = WriteConcern("majority", j=True)


# A server that does not answer is given up on after this long (a request's budget may cut it).
SERVER_SELECTION_TIMEOUT_MS = 5_000
CONNECT_TIMEOUT_MS = 2_000


class TransactionFailed(Exception):
    """A transaction kept failing transiently after every allowed attempt, or until its time budget
    was spent."""


def is_unavailable(error: BaseException) -> bool:
    """The database did not answer in time or could not be reached: the client may retry later."""
    if isinstance(error, TransactionFailed | TimeoutError):
        return True
    return isinstance(error, PyMongoError) and (
        error.timeout or isinstance(error, ConnectionFailure)
    )


@dataclass
class Mongo:
    """The process's one client and the product database."""

    client: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    max_txn_attempts: int = 8
    # This process's short-lived copies of rarely changing documents (the program in force).
    cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # A collection handle made once per name: pymongo builds a new one for every `db[name]`
    # (4.6 µs, and a request asks for ten to twenty); a handle holds no state of its own.
    collections: dict[str, AsyncCollection[Document]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def __getitem__(self, name: str) -> AsyncCollection[Document]:
        try:
            return self.collections[name]
        except KeyError:
            collection = self.collections[name] = self.db[name]
            return collection

    async def ping(self, within: float = 1.0) -> bool:
        """The server answers a ping within `within` seconds."""
        try:
            async with asyncio.timeout(within):
                with deadlines.time_budget(within):
                    await self.client.admin.command("ping")
        except (PyMongoError, TimeoutError):
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
        w="majority",  # acknowledged only once a majority has it, and in its journal:
        journal=True,  # an acknowledged write survives a failover and a crash
        retryWrites=True,
        appname="jifen",
        **{
            "serverSelectionTimeoutMS": SERVER_SELECTION_TIMEOUT_MS,
            "connectTimeoutMS": CONNECT_TIMEOUT_MS,
            **options,
        },
    )
    return Mongo(client=client, db=client[db_name], max_txn_attempts=max_txn_attempts)


# What the indexes ensured last were (`meta` `indexes`): a start whose code declares the same
# indexes, on a database that still has as many collections and indexes as then, need not ask
# for each again. Two commands instead of about a hundred: the API, the worker and every restart
# start sooner (on the embedded database, 0.2 to 0.6 s sooner).
INDEXES_MARKER = "indexes"
_DECLARED = hashlib.sha256(
    repr(
        (
            sorted(
                (name, [index.document for index in models]) for name, models in INDEXES.items()
            ),
            sorted(OBSOLETE_INDEXES.items()),
        )
    ).encode()
).hexdigest()


async def _counted(mongo: Mongo) -> dict[str, int]:
    stats = await mongo.db.command("dbStats")
    return {"collections": int(stats["collections"]), "indexes": int(stats["indexes"])}


async def ensure_indexes(mongo: Mongo) -> None:
    """Every collection and index INDEXES declares, and none of OBSOLETE_INDEXES; at once when
    the database is as this code left it (the `indexes` marker: same declarations, same counts).
    Anything dropped or added since changes a count, and everything is asked for again."""
    marker = await mongo["meta"].find_one({"_id": INDEXES_MARKER})
    if (
        marker is not None
        and marker.get("declared") == _DECLARED
        and marker.get("counted") == await _counted(mongo)
    ):
        return
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
    for name, index_names in OBSOLETE_INDEXES.items():
        for index_name in index_names:
            try:
                await mongo.db[name].drop_index(index_name)
            except OperationFailure as exc:
                if exc.code != _INDEX_NOT_FOUND:
                    raise
    await mongo["meta"].update_one(
        {"_id": INDEXES_MARKER},
        {"$set": {"declared": _DECLARED, "counted": await _counted(mongo)}},
        upsert=True,
    )


# An abort after a failure is a courtesy (the server drops an abandoned transaction by itself,
# after a minute): against a database that is gone it must not wait out the driver's 30 s.
ABORT_SECONDS = 5.0


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
    `work` must therefore be safe to run again from the start. Inside a request's time budget
    (app.deadlines) it stops retrying when the budget is spent, whatever `max_attempts` allows.
    """
    last_error: PyMongoError | None = None
    for attempt in range(1, max_attempts + 1):
        async with client.start_session() as session:
            try:
                await session.start_transaction(
                    read_concern=ReadConcern("snapshot"),
                    write_concern=DURABLE,
                    read_preference=ReadPreference.PRIMARY,
                )
                result = await work(session)
                await _commit(session, max_attempts)
                return result
            except asyncio.CancelledError:
                await _abort(session)  # else the session's exit aborts, for as long as 30 s
                raise
            except PyMongoError as exc:
                await _abort(session)
                if _cancelled():
                    raise asyncio.CancelledError() from exc
                if not _is_transient(exc):
                    raise
                last_error = exc
                log.info("transaction attempt %d failed transiently: %s", attempt, exc)
                if not await _back_off(attempt):
                    raise TransactionFailed(
                        f"transaction failed after {attempt} attempts: time budget spent"
                    ) from exc
    raise TransactionFailed(f"transaction failed after {max_attempts} attempts") from last_error


async def _back_off(attempt: int) -> bool:
    """Wait before the next attempt; False when the request's time budget leaves no room for one."""
    delay = _backoff(attempt)
    left = deadlines.remaining()
    if left is not None and left <= delay:
        return False
    await asyncio.sleep(delay)
    return True


async def _abort(session: AsyncClientSession) -> None:
    if session.in_transaction:
        try:
            with pymongo.timeout(ABORT_SECONDS):
                await session.abort_transaction()
        except PyMongoError:
            log.debug("abort after failure failed", exc_info=True)


def _cancelled() -> bool:
    """Whether this task is being cancelled. pymongo reports a reply cut short by the
    cancellation as a lost connection (AutoReconnect, transient): retried, the cancellation would
    wait for every attempt, up to half a minute when the database is gone."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _is_transient(exc: PyMongoError) -> bool:
    return exc.has_error_label("TransientTransactionError") or isinstance(exc, ConnectionFailure)


async def _commit(session: AsyncClientSession, max_attempts: int) -> None:
    for attempt in range(1, max_attempts + 1):
        try:
            await session.commit_transaction()
            return
        except PyMongoError as exc:
            unknown = exc.has_error_label("UnknownTransactionCommitResult")
            if unknown and attempt < max_attempts and not _cancelled():
                log.info("commit result unknown (attempt %d), retrying commit: %s", attempt, exc)
                if await _back_off(attempt):
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


async def newest_first(
    collection: AsyncCollection[Document],
    query: Document,
    key: str,
    *,
    first: int,
    after: tuple[Any, Any] | None,
) -> tuple[list[Document], bool]:
    """One keyset page of `query`, newest first by (`key`, _id): at most `first` documents after
    the (value, id) of the last one seen, and whether more follow. With an index ending in
    (`key`, _id) a page is one range however deep it is."""
    if after is not None:
        value, last_id = after
        query = {**query, "$or": [{key: {"$lt": value}}, {key: value, "_id": {"$lt": last_id}}]}
    return await _page(collection.find(query).sort([(key, -1), ("_id", -1)]), first)


async def newest_by_id(
    collection: AsyncCollection[Document],
    *,
    first: int,
    before: Any | None,
    projection: Document | None = None,
) -> tuple[list[Document], bool]:
    """One page of a collection whose ids grow with time, newest first: at most `first`
    documents with ids below `before` (None: from the newest), and whether more follow."""
    query: Document = {} if before is None else {"_id": {"$lt": before}}
    return await _page(collection.find(query, projection).sort("_id", -1), first)


async def _page(cursor: AsyncCursor[Document], first: int) -> tuple[list[Document], bool]:
    documents = [document async for document in cursor.limit(first + 1)]
    return documents[:first], len(documents) > first
