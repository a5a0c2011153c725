"""What tiers cost, in database commands, whatever the member's history: counting an earn is one
command; only the earn that crosses a threshold writes the change and its notification. And the
one-shot `jifen tiers` an operator runs."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from app.clock import FrozenClock
from app.db import Mongo, connect
from app.engagement import check_in
from app.members import create_member, record_qualifying
from app.program import CheckIn, save_program
from app.program import service as program_service
from tests.ledger.conftest import CommandCounter
from tests.test_cli import jifen
from tests.tiers.programs import PROGRAM, program
from tests.tiers.test_tiers import earn, tier_of


async def counted_qualifying(
    mongo_url: str, db_name: str, clock: FrozenClock, member_id: str, points: int
) -> list[str]:
    counter = CommandCounter()
    handle = connect(mongo_url, db_name, event_listeners=[counter])
    try:
        await handle.ping()

        async def work(session) -> None:  # type: ignore[no-untyped-def]
            counter.reset()
            await record_qualifying(
                handle,
                session,
                clock.now(),
                PROGRAM,
                member_id=member_id,
                points=points,
                at=clock.now(),
                entry_id=None,
            )
            names.extend(counter.names)

        names: list[str] = []
        await handle.transaction(work)
        return names
    finally:
        await handle.close()


async def test_counting_points_costs_one_command_and_an_upgrade_five(
    mongo: Mongo, mongo_url: str, db_name: str, clock: FrozenClock
) -> None:
    await save_program(mongo, clock, PROGRAM)
    member_id = (await create_member(mongo, clock, name="Zhao", tier="member")).id
    for day in range(40):  # a history of many days: the cost stays the same
        await earn(mongo, clock, PROGRAM, member_id, 1, f"o{day}")
        clock.advance(timedelta(days=1))
    assert await counted_qualifying(mongo_url, db_name, clock, member_id, 5) == ["findAndModify"]
    assert await counted_qualifying(mongo_url, db_name, clock, member_id, -5) == ["findAndModify"]
    crossing = await counted_qualifying(mongo_url, db_name, clock, member_id, 100)
    # ... the tier change, its notification, its tier.changed event (app/event_log.py)
    assert crossing == [
        "findAndModify",
        "findAndModify",
        "findAndModify",
        "insert",
        "insert",
        "insert",
    ]
    assert await tier_of(mongo, member_id) == "silver"


async def test_jifen_tiers_moves_members_down_as_of_an_instant(
    mongo: Mongo, mongo_url: str, db_name: str, clock: FrozenClock, tmp_path: Path
) -> None:
    await save_program(mongo, clock, PROGRAM)
    member_id = (await create_member(mongo, clock, name="Qian", tier="member")).id
    await earn(mongo, clock, PROGRAM, member_id, 300, "o1")
    at = clock.now()
    early = jifen(mongo_url, db_name, tmp_path, "tiers", "--as-of", at.isoformat())
    assert early.returncode == 0, early.stderr
    assert json.loads(early.stdout) == {"handled": 0}
    later = (at + timedelta(days=31)).isoformat()
    ran = jifen(mongo_url, db_name, tmp_path, "tiers", "--as-of", later)
    assert json.loads(ran.stdout) == {"handled": 1}
    assert await tier_of(mongo, member_id) == "silver"


async def test_a_check_in_costs_the_same_at_any_history(
    mongo: Mongo, mongo_url: str, db_name: str, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The process's copy of the program is re-read after 2 s of wall time; on a loaded machine the
    # twelve check-ins take longer than that, and one of them paid the read again. What is counted
    # here is the check-in, so the copy is kept for the whole test.
    monkeypatch.setattr(program_service, "PROGRAM_CACHE_SECONDS", 3600.0)
    await save_program(mongo, clock, program(check_in=CheckIn(points_by_streak=(1,))))
    member_id = (await create_member(mongo, clock, name="Sun", tier="member")).id
    counter = CommandCounter()
    handle = connect(mongo_url, db_name, event_listeners=[counter])
    costs = []
    try:
        for _ in range(12):
            counter.reset()
            await check_in(handle, clock, member_id=member_id)
            costs.append(list(counter.names))
            clock.advance(timedelta(days=1))
    finally:
        await handle.close()
    # The first reads the program; later ones use this process's copy (current_program).
    # Member, its check-in; in the transaction: its check-in, the account read and moved in one
    # findAndModify with the qualifying points (app/ledger/express.py, app/ledger/tally.py), lot
    # and entry saved, check-in written, the points.earned event, commit.
    assert costs[0] == ["find", *costs[1]], costs[0]
    assert costs[1] == costs[-1] and len(costs[-1]) == 9, costs[-1]  # and the event's insert
