"""The transaction runner against a real server, with faults injected through configureFailPoint."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from pymongo import monitoring
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import OperationFailure

from app.clock import FrozenClock
from app.db import (
    ABORT_SECONDS,
    INDEXES,
    Mongo,
    TransactionFailed,
    connect,
    ensure_indexes,
    run_in_transaction,
)
from app.embedded import EmbeddedMongo
from app.ledger import earn
from app.members.service import next_member_no
from tests.faults import fail_point


async def test_indexes_are_ensured_for_every_declared_collection(mongo: Mongo) -> None:
    names = set(await mongo.db.list_collection_names())
    assert set(INDEXES) <= names
    ledger_indexes = await mongo["ledger"].index_information()
    assert any(info.get("unique") for info in ledger_indexes.values())


async def test_ttl_indexes_on_the_logic_clock_from_earlier_versions_are_dropped(
    mongo: Mongo,
) -> None:
    await mongo["refresh_tokens"].create_index("expires_at", expireAfterSeconds=0)
    await ensure_indexes(mongo)
    indexes = await mongo["refresh_tokens"].index_information()
    assert "expires_at_1" not in indexes
    assert indexes["purge_at_1"]["expireAfterSeconds"] == 0


async def test_failed_commit_is_retried_and_data_written_once(mongo: Mongo) -> None:
    attempts = 0

    async def work(session: AsyncClientSession) -> str:
        nonlocal attempts
        attempts += 1
        await mongo["accounts"].update_one(
            {"_id": "m1"}, {"$inc": {"available": 10}}, upsert=True, session=session
        )
        await mongo["ledger"].insert_one({"member_id": "m1", "points": 10}, session=session)
        return "done"

    data = {
        "failCommands": ["commitTransaction"],
        "errorCode": 112,
        "errorLabels": ["TransientTransactionError"],
    }
    async with fail_point(mongo, {"times": 2}, data):
        assert await mongo.transaction(work) == "done"
    assert attempts == 3
    account = await mongo["accounts"].find_one({"_id": "m1"})
    assert account is not None and account["available"] == 10
    assert await mongo["ledger"].count_documents({"member_id": "m1"}) == 1


async def test_unknown_commit_result_retries_only_the_commit(mongo: Mongo) -> None:
    attempts = 0

    async def work(session: AsyncClientSession) -> None:
        nonlocal attempts
        attempts += 1
        await mongo["ledger"].insert_one({"member_id": "m2", "points": 5}, session=session)

    data = {
        "failCommands": ["commitTransaction"],
        "errorCode": 50,
        "errorLabels": ["UnknownTransactionCommitResult"],
    }
    async with fail_point(mongo, {"times": 1}, data):
        await mongo.transaction(work)
    assert attempts == 1
    assert await mongo["ledger"].count_documents({"member_id": "m2"}) == 1


async def test_failed_insert_inside_transaction_is_retried(mongo: Mongo) -> None:
    data = {
        "failCommands": ["insert"],
        "errorCode": 112,
        "errorLabels": ["TransientTransactionError"],
    }

    async def work(session: AsyncClientSession) -> None:
        await mongo["ledger"].insert_one({"member_id": "m3", "points": 1}, session=session)

    async with fail_point(mongo, {"times": 1}, data):
        await mongo.transaction(work)
    assert await mongo["ledger"].count_documents({"member_id": "m3"}) == 1


async def test_runner_gives_up_after_the_bound_and_writes_nothing(mongo: Mongo) -> None:
    data = {
        "failCommands": ["commitTransaction"],
        "errorCode": 112,
        "errorLabels": ["TransientTransactionError"],
    }

    async def work(session: AsyncClientSession) -> None:
        await mongo["ledger"].insert_one({"member_id": "m4", "points": 1}, session=session)

    async with fail_point(mongo, "alwaysOn", data):
        with pytest.raises(TransactionFailed):
            await run_in_transaction(mongo.client, work, max_attempts=3)
    assert await mongo["ledger"].count_documents({"member_id": "m4"}) == 0


async def test_non_transient_errors_are_not_retried(mongo: Mongo) -> None:
    attempts = 0

    async def work(session: AsyncClientSession) -> None:
        nonlocal attempts
        attempts += 1
        await mongo["ledger"].insert_one({"_id": "dup"}, session=session)
        await mongo["ledger"].insert_one({"_id": "dup"}, session=session)

    with pytest.raises(OperationFailure):
        await mongo.transaction(work)
    assert attempts == 1
    assert await mongo["ledger"].count_documents({"_id": "dup"}) == 0


async def test_parallel_first_upserts_of_a_counter_all_get_a_number(mongo: Mongo) -> None:
    """The losers of a race to insert a counter get no document (SecantusDB) or a duplicate key
    error (MongoDB); each must retry rather than fail. (A number may be skipped, never repeated.)"""
    for round_ in range(5):
        await mongo["counters"].delete_many({})
        await asyncio.gather(*(mongo["counters"].find_one({}) for _ in range(40)))  # open the pool
        numbers = await asyncio.gather(*(next_member_no(mongo) for _ in range(40)))
        assert len(set(numbers)) == 40, round_


class WriteConcerns(monitoring.CommandListener):
    def __init__(self) -> None:
        self.seen: dict[str, object] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in ("insert", "commitTransaction"):
            self.seen.setdefault(event.command_name, event.command.get("writeConcern"))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_writes_are_acknowledged_only_once_journaled_by_a_majority(
    mongo_url: str, db_name: str
) -> None:
    listener = WriteConcerns()
    mongo = connect(mongo_url, db_name, event_listeners=[listener])
    try:
        await mongo["audit"].insert_one({"what": "plain write"})

        async def work(session: AsyncClientSession) -> None:
            await mongo["audit"].insert_one({"what": "in a transaction"}, session=session)

        await mongo.transaction(work)
    finally:
        await mongo.client.drop_database(db_name)
        await mongo.close()
    durable = {"w": "majority", "j": True}
    assert listener.seen == {"insert": durable, "commitTransaction": durable}


async def test_a_transaction_cancelled_while_its_database_is_gone_ends_at_once(
    tmp_path: Path, clock: FrozenClock
) -> None:
    # pymongo reports the reply the cancellation cut short as a lost connection: retried, and
    # aborted against the dead server for the driver's 30 s, the cancellation took half a minute.
    with EmbeddedMongo(tmp_path / "db", sync_on_commit=False) as server:
        mongo = connect(server.url, "cancel", serverSelectionTimeoutMS=2000)
        try:
            await earn(mongo, clock, member_id="m1", points=1, idempotency_key="k0")
            assert server.process is not None
            server.process.kill()
            server.process.wait()
            for delay in (0.0, 0.3):  # cut short mid-command, and in a later attempt
                writing = asyncio.create_task(
                    earn(mongo, clock, member_id="m1", points=1, idempotency_key=f"k{delay}")
                )
                await asyncio.sleep(delay)
                started = time.monotonic()
                writing.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await writing
                assert time.monotonic() - started < ABORT_SECONDS + 2, delay
        finally:
            await mongo.close()
