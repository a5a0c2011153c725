"""Every change of the program is a new version, stamped with who and when; old versions stay."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from app.clock import FrozenClock
from app.db import Mongo
from app.program import (
    Program,
    ProgramRequestConflict,
    ProgramVersionNotFound,
    Tier,
    apply_program,
    get_program,
    list_versions,
    preview_program,
)

PROGRAM = Program(
    name="Corner Shop",
    currency="points",
    timezone="Asia/Shanghai",
    tiers=(Tier(code="member", name="Member", threshold=0),),
)


def renamed(name: str) -> Program:
    return PROGRAM.model_copy(update={"name": name})


async def test_each_change_is_a_version_with_who_when_and_why(
    mongo: Mongo, clock: FrozenClock
) -> None:
    first = await apply_program(mongo, clock, PROGRAM, updated_by="cli:ops")
    clock.advance(timedelta(hours=1))
    second = await apply_program(
        mongo, clock, renamed("Corner Shop 2"), updated_by="admin:li", note="new sign"
    )
    assert (first.stamp.version, second.stamp.version) == (1, 2)
    assert [str(change) for change in second.changes] == ['name: "Corner Shop" → "Corner Shop 2"']
    current = await get_program(mongo)
    assert (current.name, current.version, current.updated_by, current.note) == (
        "Corner Shop 2",
        2,
        "admin:li",
        "new sign",
    )
    assert current.updated_at == clock.now()
    old = await get_program(mongo, version=1)
    assert (old.name, old.version, old.updated_by) == ("Corner Shop", 1, "cli:ops")
    assert (await get_program(mongo, version=2)).name == "Corner Shop 2"
    with pytest.raises(ProgramVersionNotFound):
        await get_program(mongo, version=3)


async def test_an_identical_config_makes_no_version(mongo: Mongo, clock: FrozenClock) -> None:
    await apply_program(mongo, clock, PROGRAM, updated_by="cli:ops")
    # the same rules spelt otherwise: a multiplier of 1 is 1.00
    same = PROGRAM.model_copy(
        update={
            "tiers": (Tier(code="member", name="Member", threshold=0, multiplier=Decimal("1.00")),)
        }
    )
    again = await apply_program(mongo, clock, same, updated_by="cli:other")
    assert not again.changed and again.stamp.version == 1
    assert (await get_program(mongo)).updated_by == "cli:ops"
    assert await mongo["program"].count_documents({}) == 1


async def test_versions_list_newest_first_in_pages(mongo: Mongo, clock: FrozenClock) -> None:
    for n in range(5):
        await apply_program(
            mongo, clock, renamed(f"Shop {n}"), updated_by=f"cli:u{n}", note=f"n{n}"
        )
    page, more = await list_versions(mongo, first=2)
    assert [(s.version, s.updated_by, s.note) for s in page] == [
        (5, "cli:u4", "n4"),
        (4, "cli:u3", "n3"),
    ]
    assert more
    page, more = await list_versions(mongo, first=10, before=3)
    assert [s.version for s in page] == [2, 1] and not more


async def test_a_dry_run_writes_nothing(mongo: Mongo, clock: FrozenClock) -> None:
    await apply_program(mongo, clock, PROGRAM, updated_by="cli:ops")
    preview = await preview_program(mongo, renamed("Other"))
    assert preview.stamp.version == 2 and [c.path for c in preview.changes] == ["name"]
    assert (await get_program(mongo)).name == "Corner Shop"
    assert await mongo["program"].count_documents({}) == 1


async def test_two_concurrent_changes_both_land_one_version_apart(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await apply_program(mongo, clock, PROGRAM, updated_by="cli:ops")
    results = await asyncio.gather(
        apply_program(mongo, clock, renamed("Left"), updated_by="admin:a"),
        apply_program(mongo, clock, renamed("Right"), updated_by="admin:b"),
    )
    assert sorted(result.stamp.version for result in results) == [2, 3]
    names = {(await get_program(mongo, version=v)).name for v in (2, 3)}
    assert names == {"Left", "Right"}
    stamps, _ = await list_versions(mongo, first=10)
    assert [stamp.version for stamp in stamps] == [3, 2, 1]


async def test_a_replayed_key_returns_the_first_result(mongo: Mongo, clock: FrozenClock) -> None:
    await apply_program(mongo, clock, PROGRAM, updated_by="cli:ops")
    first = await apply_program(
        mongo, clock, renamed("A"), updated_by="admin:li", idempotency_key="k1"
    )
    await apply_program(mongo, clock, renamed("B"), updated_by="admin:li")
    replay = await apply_program(
        mongo, clock, renamed("A"), updated_by="admin:li", idempotency_key="k1"
    )
    assert replay == first and replay.stamp.version == 2
    assert (await get_program(mongo)).name == "B"  # the replay changed nothing
    with pytest.raises(ProgramRequestConflict):
        await apply_program(mongo, clock, renamed("C"), updated_by="admin:li", idempotency_key="k1")
