"""Importing from an old system against the real database: broken rows reported by line without
stopping the good ones, reruns importing nothing twice, changed rows reported not applied, opening
balances with their original dates and expiries, and a crash mid-import finished by the rerun."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pymongo.errors import PyMongoError

from app.clock import FrozenClock
from app.db import Mongo
from app.importer import ImportRunning, import_files
from app.leases import acquire
from app.ledger import get_balance, verify_balances
from app.program import save_program
from app.seed import DEMO_PROGRAM
from tests.faults import fail_point

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MEMBERS = """legacy_id,phone,name,email,birthday,tier,joined_at
L1,13800000001,Wang Fang,wf@example.com,1990-01-02,,2019-05-01
L2,+86 138 0000 0002,Li Lei,,,silver,
L3,12345,Bad Phone,,,,
L4,13800000004,,,,,
L1,13800000005,Duplicate Id,,,,
L6,13800000006,Bad Tier,,,diamond,
L7,13800000007,Bad Birthday,,1990-13-45,,
L8,,No Phone,,,,
"""
BALANCES = """legacy_id,points,earned_at,expires_at
L1,300,2025-01-10,2026-12-31
L1,200,2025-06-01T08:00:00+08:00,
L2,1000,2024-03-01,2025-03-01
L2,50,2026-10-01,2027-10-01
L8,abc,2025-01-01,
L8,70,2030-01-01,
L8,80,2025-02-01,2025-01-01
L9,10,2025-01-01,
L8,90,2025-02-01,
"""


@pytest.fixture
async def program(mongo: Mongo, clock: FrozenClock) -> None:
    clock.set(NOW)
    await save_program(mongo, clock, DEMO_PROGRAM)


def _lines(summary: object) -> list[tuple[str, int, str]]:
    return [(e.file, e.line, e.field) for e in summary.errors]  # type: ignore[attr-defined]


async def _member(mongo: Mongo, legacy_id: str) -> dict:
    found = await mongo["members"].find_one({"legacy_id": legacy_id})
    assert found is not None, legacy_id
    return found


async def test_broken_rows_are_reported_by_line_and_the_good_ones_imported_once(
    mongo: Mongo, clock: FrozenClock, program: None
) -> None:
    first = await import_files(mongo, clock, MEMBERS, BALANCES, actor="cli:test")
    assert _lines(first) == [
        ("balances.csv", 6, "points"),
        ("balances.csv", 7, "earned_at"),
        ("balances.csv", 8, "expires_at"),
        ("balances.csv", 9, "legacy_id"),
        ("members.csv", 4, "phone"),
        ("members.csv", 5, "name"),
        ("members.csv", 6, "legacy_id"),
        ("members.csv", 7, "tier"),
        ("members.csv", 8, "birthday"),
    ]
    counts = first.counts()
    assert (counts["members_imported"], counts["balances_imported"], counts["points_imported"]) == (
        3,
        5,
        1640,
    )
    wang = await _member(mongo, "L1")
    assert (wang["phone"], wang["tier"], wang["joined_at"]) == (
        "+8613800000001",
        "member",
        datetime(2019, 5, 1, tzinfo=UTC),
    )
    assert (await get_balance(mongo, wang["_id"], clock.now())).available == 500
    lots = await mongo["lots"].find({"member_id": wang["_id"]}).sort("earned_at", 1).to_list(None)
    assert [(lot["earned_at"], lot["expires_at"]) for lot in lots] == [
        (datetime(2025, 1, 10, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC)),
        (datetime(2025, 6, 1, tzinfo=UTC), None),
    ]
    li = await _member(mongo, "L2")
    assert (
        await get_balance(mongo, li["_id"], clock.now())
    ).available == 50  # 1,000 expired in March 2025
    assert li["tier"] == "silver"

    for _ in range(2):  # reruns import nothing twice and report the same refusals
        again = await import_files(mongo, clock, MEMBERS, BALANCES, actor="cli:test")
        assert again.counts()["members_imported"] == 0
        assert again.counts()["members_unchanged"] == 3
        assert again.counts()["balances_unchanged"] == 5
        assert _lines(again) == _lines(first)
    assert await mongo["members"].count_documents({"legacy_id": {"$exists": True}}) == 3
    assert (await get_balance(mongo, wang["_id"], clock.now())).available == 500
    assert await verify_balances(mongo) == []
    audits = await mongo["audit"].count_documents({"action": "import.run"})
    assert audits == 3


async def test_a_changed_row_is_reported_not_applied(
    mongo: Mongo, clock: FrozenClock, program: None
) -> None:
    await import_files(mongo, clock, MEMBERS, BALANCES, actor="cli:test")
    renamed = MEMBERS.replace("Wang Fang", "Wang Fang-Fang")
    more = BALANCES.replace("L1,300,", "L1,301,")
    summary = await import_files(mongo, clock, renamed, more, actor="cli:test")
    assert ("members.csv", 2, "legacy_id") in _lines(summary)
    assert summary.counts()["members_changed"] == 1
    wang = await _member(mongo, "L1")
    assert (
        wang["name"] == "Wang Fang"
        and (await get_balance(mongo, wang["_id"], clock.now())).available == 500
    )


async def test_an_import_interrupted_while_writing_books_is_finished_by_the_rerun(
    mongo: Mongo, clock: FrozenClock, program: None
) -> None:
    # the chunk's journal, accounts and lots are written; the entries' insert fails: books left
    # half-written for members that were never written (the member document comes last)
    async with fail_point(mongo, {"skip": 3}, {"failCommands": ["insert"], "errorCode": 91}):
        with pytest.raises(PyMongoError):
            await import_files(mongo, clock, MEMBERS, BALANCES, actor="cli:test")
    assert await mongo["members"].find_one({"legacy_id": "L1"}) is None
    assert await mongo["accounts"].count_documents({}) > 0
    assert await mongo["import_chunks"].count_documents({}) == 1
    assert await verify_balances(mongo) != []  # half-written books do not add up
    resumed = await import_files(mongo, clock, MEMBERS, BALANCES, actor="cli:test")
    counts = resumed.counts()  # as if the interrupted run had never been
    assert (counts["members_imported"], counts["balances_imported"], counts["points_imported"]) == (
        3,
        5,
        1640,
    )
    wang = await _member(mongo, "L1")
    assert (await get_balance(mongo, wang["_id"], clock.now())).available == 500
    members = {d["_id"] async for d in mongo["members"].find({}, {"_id": 1})}
    assert {d["_id"] async for d in mongo["accounts"].find({}, {"_id": 1})} <= members
    assert await mongo["import_chunks"].count_documents({}) == 0
    assert await verify_balances(mongo) == []


async def test_members_written_before_a_crash_are_kept_and_not_imported_again(
    mongo: Mongo, clock: FrozenClock, program: None
) -> None:
    # everything is written but the chunk's journal entry is not deleted
    async with fail_point(
        mongo, {"times": 1}, {"failCommands": ["delete"], "errorCode": 91, "errorLabels": []}
    ):
        with pytest.raises(PyMongoError):
            await import_files(mongo, clock, MEMBERS, BALANCES, actor="cli:test")
    wang = await _member(mongo, "L1")
    assert await mongo["import_chunks"].count_documents({}) == 1
    resumed = await import_files(mongo, clock, MEMBERS, BALANCES, actor="cli:test")
    assert resumed.counts()["members_imported"] == 0
    assert resumed.counts()["members_unchanged"] == 3
    assert (await _member(mongo, "L1"))["_id"] == wang["_id"]
    assert (await get_balance(mongo, wang["_id"], clock.now())).available == 500
    assert await mongo["import_chunks"].count_documents({}) == 0
    assert await verify_balances(mongo) == []


async def test_a_second_import_while_one_runs_is_refused_and_writes_nothing(
    mongo: Mongo, clock: FrozenClock, program: None
) -> None:
    assert await acquire(mongo, clock, "import", "another-run", timedelta(minutes=5))
    with pytest.raises(ImportRunning):
        await import_files(mongo, clock, MEMBERS, BALANCES, actor="cli:test")
    assert await mongo["members"].count_documents({"legacy_id": {"$exists": True}}) == 0
    clock.advance(timedelta(minutes=6))  # the other run died: its lease lapses
    summary = await import_files(mongo, clock, MEMBERS, BALANCES, actor="cli:test")
    assert summary.counts()["members_imported"] == 3


async def test_a_dry_run_checks_every_row_and_writes_nothing(
    mongo: Mongo, clock: FrozenClock, program: None
) -> None:
    summary = await import_files(mongo, clock, MEMBERS, BALANCES, actor="cli:test", dry_run=True)
    assert len(summary.errors) == 9  # the same refusals as the real run
    assert await mongo["members"].count_documents({}) == 0
    assert await mongo["audit"].count_documents({}) == 0
    header = await import_files(mongo, clock, "id,name\n1,x\n", "", actor="t", dry_run=True)
    assert _lines(header) == [("balances.csv", 1, "header"), ("members.csv", 1, "header")]


async def test_a_dry_run_counts_what_the_real_run_then_does(
    mongo: Mongo, clock: FrozenClock, program: None
) -> None:
    """Row by row, against what the database holds: the new rows, the unchanged and the changed
    ones, and a phone another member already has (in the database or earlier in the file)."""
    taken = MEMBERS + "L10,13800000001,Same Phone As Wang,,,,\n"
    before = await import_files(mongo, clock, taken, BALANCES, actor="t", dry_run=True)
    real = await import_files(mongo, clock, taken, BALANCES, actor="t")
    assert before.counts() == real.counts()
    assert _lines(before) == _lines(real)
    assert ("members.csv", 10, "phone") in _lines(real)
    changed = MEMBERS.replace("Wang Fang", "Wang Fang II") + "L11,13800000011,New Member,,,,\n"
    again = await import_files(mongo, clock, changed, BALANCES, actor="t", dry_run=True)
    counts = again.counts()
    assert (counts["members_imported"], counts["members_unchanged"], counts["members_changed"]) == (
        1,
        2,
        1,
    )
    assert await mongo["members"].count_documents({"legacy_id": "L11"}) == 0  # nothing written
