"""Expiry warnings: one per (member, expiry instant, lead time), never repeated, never for spent points."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import Rolling, earn, spend
from app.messaging import Links, route_new
from app.notifications.warnings import (
    days_left,
    issue_expiry_warnings,
    relevant_warnings,
    tightest_lead,
)

_keys = itertools.count()


async def earn_expiring(
    mongo: Mongo, clock: FrozenClock, member: str, points: int, days: int
) -> None:
    await earn(
        mongo,
        clock,
        member_id=member,
        points=points,
        idempotency_key=f"earn-{next(_keys)}",
        policy=Rolling(days=days),
    )


async def warnings_of(mongo: Mongo, member: str) -> list[tuple[int, int, int]]:
    cursor = (
        mongo["notifications"]
        .find({"member_id": member})
        .sort([("expires_at", 1), ("lead_days", -1)])
    )
    return [(d["points"], d["days_left"], d["lead_days"]) async for d in cursor]


def test_tightest_lead_and_days_left(clock: FrozenClock) -> None:
    now = clock.now()
    assert tightest_lead(now + timedelta(days=20), now, (30, 7, 1)) == 30
    assert tightest_lead(now + timedelta(days=7), now, (30, 7, 1)) == 7
    assert tightest_lead(now + timedelta(hours=12), now, (30, 7, 1)) == 1
    assert tightest_lead(now + timedelta(days=31), now, (30, 7, 1)) is None
    assert days_left(now + timedelta(hours=36), now) == 2


async def test_each_lead_time_warns_once_per_member_and_instant(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await earn_expiring(mongo, clock, "m1", 100, days=20)
    await earn_expiring(mongo, clock, "m1", 30, days=20)  # same instant: summed
    await earn_expiring(mongo, clock, "m1", 50, days=5)
    await earn_expiring(mongo, clock, "m2", 70, days=40)
    assert await issue_expiry_warnings(mongo, clock) == 2
    assert await warnings_of(mongo, "m1") == [(50, 5, 7), (130, 20, 30)]
    assert await warnings_of(mongo, "m2") == []
    assert await issue_expiry_warnings(mongo, clock) == 0  # a rerun issues nothing

    clock.advance(timedelta(days=14))  # the 20-day points now have 6 days; the 40-day ones 26
    assert await issue_expiry_warnings(mongo, clock) == 2
    assert await warnings_of(mongo, "m1") == [(50, 5, 7), (130, 20, 30), (130, 6, 7)]
    assert await warnings_of(mongo, "m2") == [(70, 26, 30)]


async def test_spent_points_are_not_warned_about(mongo: Mongo, clock: FrozenClock) -> None:
    await earn_expiring(mongo, clock, "m1", 100, days=10)
    await earn_expiring(mongo, clock, "m1", 100, days=60)
    await spend(
        mongo, clock, member_id="m1", points=80, idempotency_key="s1"
    )  # soonest-expiring first
    await issue_expiry_warnings(mongo, clock)
    assert await warnings_of(mongo, "m1") == [(20, 10, 30)]
    await spend(mongo, clock, member_id="m1", points=20, idempotency_key="s2")
    clock.advance(timedelta(days=4))
    assert await issue_expiry_warnings(mongo, clock) == 0
    assert await relevant_warnings(mongo, "m1", clock.now()) == []


async def test_two_workers_racing_issue_each_warning_once(mongo: Mongo, clock: FrozenClock) -> None:
    for member in range(30):
        await earn_expiring(mongo, clock, f"m{member}", 10 + member, days=3)
    counts = await asyncio.gather(
        *(issue_expiry_warnings(mongo, clock, batch_size=7) for _ in range(3))
    )
    assert sum(counts) == 30
    assert await mongo["notifications"].count_documents({}) == 30
    # each with its points.expiring event, once (app/event_log.py)
    assert await mongo["events"].count_documents({"type": "points.expiring"}) == 30


async def test_relevant_warnings_show_the_points_left_now(mongo: Mongo, clock: FrozenClock) -> None:
    await earn_expiring(mongo, clock, "m1", 100, days=6)
    await issue_expiry_warnings(mongo, clock)
    await spend(mongo, clock, member_id="m1", points=40, idempotency_key="s1")
    clock.advance(timedelta(days=1))
    [warning] = await relevant_warnings(mongo, "m1", clock.now())
    assert (warning.points, warning.days_left, warning.lead_days) == (60, 5, 7)
    clock.advance(timedelta(days=5))
    assert await relevant_warnings(mongo, "m1", clock.now()) == []


async def test_consenting_members_with_a_device_get_a_push_through_messaging(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await mongo["members"].insert_many(
        [
            {
                "_id": "m1",
                "member_no": "JF1",
                "consents": {"notifications": True},
                "push_tokens": [{"platform": "ios", "token": "t1"}],
            },
            {
                "_id": "m2",
                "member_no": "JF2",
                "consents": {"notifications": False},
                "push_tokens": [{"platform": "ios", "token": "t2"}],
            },
            {
                "_id": "m3",
                "member_no": "JF3",
                "consents": {"notifications": True},
                "push_tokens": [],
            },
        ]
    )
    for member in ("m1", "m2", "m3"):
        await earn_expiring(mongo, clock, member, 100, days=2)
    await issue_expiry_warnings(mongo, clock)
    await issue_expiry_warnings(mongo, clock)
    await route_new(mongo, clock, Links(b"k" * 32, "http://127.0.0.1"))
    await route_new(mongo, clock, Links(b"k" * 32, "http://127.0.0.1"))
    pushes = [d async for d in mongo["messages"].find({"channel": "push", "status": "queued"})]
    assert [(p["member_id"], p["devices"]) for p in pushes] == [
        ("m1", [{"platform": "ios", "token": "t1"}])
    ]
