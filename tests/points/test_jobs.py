"""Bulk 清零 and extension jobs: members decided once, each handled once across crashes and resumes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from app.clock import FrozenClock
from app.corrections import (
    JobBusy,
    JobKind,
    JobStatus,
    MemberFilter,
    PointsJob,
    create_job,
    get_job,
    preview,
    run_due_jobs,
    run_job,
)
from app.db import Mongo, connect
from app.leases import acquire
from app.ledger import IdempotencyConflict, OpeningEarn, Rolling, hold, open_books, verify_balances
from app.members import create_member
from app.worker.schedule import points_jobs
from tests.ledger.conftest import CommandCounter, earn_points

DORMANT = MemberFilter(dormant_days=730)


class Crash(Exception):
    """The runner dies inside a member's transaction."""


async def seed(mongo: Mongo, clock: FrozenClock, members: int, points: int, prefix: str) -> None:
    earns = {f"{prefix}{n:04d}": [OpeningEarn(points + n, clock.now())] for n in range(members)}
    await open_books(mongo, earns, clock.now())


async def dormant_and_active(mongo: Mongo, clock: FrozenClock) -> None:
    """Twelve members last active 800 days ago (points 100..111), three active 10 days ago."""
    clock.advance(timedelta(days=-800))
    await seed(mongo, clock, 12, 100, "d")
    clock.advance(timedelta(days=790))
    await seed(mongo, clock, 3, 100, "a")
    clock.advance(timedelta(days=10))


async def test_the_dry_run_counts_the_dormant_members_and_their_points(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await dormant_and_active(mongo, clock)
    shown = await preview(mongo, DORMANT, clock.now())
    assert (shown.members, shown.points) == (12, sum(range(100, 112)))
    assert await mongo["ledger"].count_documents({"kind": "CLEAR"}) == 0


async def test_a_crash_mid_way_and_a_resume_clear_each_member_exactly_once(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await dormant_and_active(mongo, clock)
    job = await create_job(
        mongo,
        clock,
        kind=JobKind.CLEAR,
        member_filter=DORMANT,
        reason="dormant 2 years",
        actor="cli:ops",
        idempotency_key="j1",
    )
    assert (job.total, job.expected_points, job.done) == (12, sum(range(100, 112)), 0)

    def crash_at_five(position: int) -> None:
        if position == 5:
            raise Crash()

    with pytest.raises(Crash):  # in the second batch of five: the first stays done
        await run_job(mongo, clock, job.id, owner="w1", hook=crash_at_five, batch=5)
    halfway = await get_job(mongo, job.id)
    assert (halfway.done, halfway.changed, halfway.status) == (5, 5, JobStatus.RUNNING)
    assert await mongo["ledger"].count_documents({"kind": "CLEAR"}) == 5

    stopped = await run_job(mongo, clock, job.id, owner="w2", limit=4)
    assert stopped.done == 9
    finished = await run_job(mongo, clock, job.id, owner="w3")
    assert finished.status is JobStatus.DONE
    assert (finished.done, finished.changed, finished.skipped) == (12, 12, 0)
    assert finished.points == sum(range(100, 112))
    cleared = [d async for d in mongo["ledger"].find({"kind": "CLEAR"})]
    assert sorted(d["member_id"] for d in cleared) == [f"d{n:04d}" for n in range(12)]
    assert sum(-d["points"] for d in cleared) == finished.points
    assert {d["idempotency_key"] for d in cleared} == {
        f"points-job:{job.id}:d{n:04d}" for n in range(12)
    }
    actives = [
        (await mongo["accounts"].find_one({"_id": f"a{n:04d}"}))["available"] for n in range(3)
    ]
    assert actives == [100, 101, 102]
    assert await run_job(mongo, clock, job.id, owner="w4") == finished  # done: nothing more
    assert await verify_balances(mongo) == []
    audit = {d["action"]: d async for d in mongo["audit"].find()}  # one clock instant: no order
    assert sorted(audit) == ["points.clear_job.create", "points.clear_job.finish"]
    assert audit["points.clear_job.finish"]["after"] == finished.totals()


async def test_members_turning_dormant_during_the_run_are_not_swept_in_and_active_ones_are_skipped(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await dormant_and_active(mongo, clock)
    job = await create_job(
        mongo,
        clock,
        kind=JobKind.CLEAR,
        member_filter=DORMANT,
        reason="dormant",
        actor="cli:ops",
        idempotency_key="j1",
    )
    await earn_points(mongo, clock, "d0003", 5)  # active again before the run reaches them
    clock.advance(timedelta(days=800))  # everyone is dormant by now, the cut-off is fixed
    done = await run_job(mongo, clock, job.id, owner="w1")
    assert (done.total, done.changed, done.skipped) == (12, 11, 1)
    assert done.points == sum(range(100, 112)) - 103
    assert (await mongo["accounts"].find_one({"_id": "d0003"}))["available"] == 108
    assert (await mongo["accounts"].find_one({"_id": "a0000"}))["available"] == 100
    assert await verify_balances(mongo) == []


async def test_a_job_replays_under_its_key_and_another_request_under_it_is_a_conflict(
    mongo: Mongo, clock: FrozenClock
) -> None:
    await dormant_and_active(mongo, clock)
    options = dict(kind=JobKind.CLEAR, reason="dormant", actor="cli:ops", idempotency_key="j1")
    first = await create_job(mongo, clock, member_filter=DORMANT, **options)  # type: ignore[arg-type]
    again = await create_job(mongo, clock, member_filter=DORMANT, **options)  # type: ignore[arg-type]
    assert again.id == first.id
    with pytest.raises(IdempotencyConflict):
        await create_job(mongo, clock, member_filter=MemberFilter(dormant_days=10), **options)  # type: ignore[arg-type]
    assert await mongo["points_jobs"].count_documents({}) == 1


async def test_a_job_held_by_another_runner_is_busy_and_the_worker_finishes_it(
    mongo: Mongo, clock: FrozenClock
) -> None:
    for n in range(3):
        await create_member(mongo, clock, name=f"G{n}", tier="gold")
    gold = [d["_id"] async for d in mongo["members"].find({"tier": "gold"})]
    for member_id in gold:
        await earn_points(mongo, clock, member_id, 50, policy=Rolling(days=30))
    await earn_points(mongo, clock, "someone", 70)
    until = clock.now() + timedelta(days=365)
    job = await create_job(
        mongo,
        clock,
        kind=JobKind.EXTEND,
        member_filter=MemberFilter(tier="gold"),
        reason="goodwill",
        actor="admin:ops",
        idempotency_key="x1",
        until=until,
    )
    assert job.total == 3
    assert await acquire(mongo, clock, f"points-job:{job.id}", "other", timedelta(seconds=60))
    with pytest.raises(JobBusy):
        await run_job(mongo, clock, job.id, owner="w1")
    clock.advance(timedelta(seconds=61))  # the other runner's lease lapsed
    outcome = await points_jobs("worker")(mongo, clock)  # the worker's scheduled pass
    assert (outcome.handled, outcome.more) == (4, False)
    done = await get_job(mongo, job.id)
    assert (done.status, done.changed, done.points) == (JobStatus.DONE, 3, 0)
    assert await mongo["ledger"].count_documents({"kind": "EXTEND"}) == 3
    moved = await mongo["lots"].count_documents({"member_id": {"$in": gold}, "expires_at": until})
    assert moved == 3
    assert await run_due_jobs(mongo, clock, owner="worker", limit=100) == 0


async def test_two_runners_at_once_clear_each_member_once(mongo: Mongo, clock: FrozenClock) -> None:
    await dormant_and_active(mongo, clock)
    job = await create_job(
        mongo,
        clock,
        kind=JobKind.CLEAR,
        member_filter=DORMANT,
        reason="dormant",
        actor="cli:ops",
        idempotency_key="j1",
    )
    outcomes = await asyncio.gather(
        run_job(mongo, clock, job.id, owner="w1"),
        run_job(mongo, clock, job.id, owner="w2"),
        return_exceptions=True,
    )
    assert all(isinstance(o, PointsJob | JobBusy) for o in outcomes), outcomes
    await run_job(mongo, clock, job.id, owner="w3")  # whatever a busy runner left
    done = await get_job(mongo, job.id)
    assert (done.status, done.changed, done.points) == (JobStatus.DONE, 12, sum(range(100, 112)))
    assert await mongo["ledger"].count_documents({"kind": "CLEAR"}) == 12
    assert await verify_balances(mongo) == []


async def test_a_clear_job_takes_at_most_two_commands_a_member_and_releases_holds(
    mongo: Mongo, clock: FrozenClock, mongo_url: str, db_name: str
) -> None:
    clock.advance(timedelta(days=-800))
    await seed(mongo, clock, 120, 100, "d")
    for n in range(3):  # three members hold part of their points
        member = f"d{n:04d}"
        ttl = timedelta(days=1000)
        await hold(mongo, clock, member_id=member, points=40, ttl=ttl, idempotency_key=f"h{n}")
    clock.advance(timedelta(days=800))
    job = await create_job(
        mongo,
        clock,
        kind=JobKind.CLEAR,
        member_filter=DORMANT,
        reason="dormant",
        actor="cli:ops",
        idempotency_key="j1",
    )
    counter = CommandCounter()
    counted = connect(mongo_url, db_name, event_listeners=[counter])
    try:
        await counted.ping()
        counter.reset()
        done = await run_job(counted, clock, job.id, owner="w1")
    finally:
        await counted.close()
    assert (done.status, done.changed, done.points) == (JobStatus.DONE, 120, sum(range(100, 220)))
    assert counter.count <= 2 * 120, counter.names
    assert await mongo["holds"].count_documents({"status": "active"}) == 0
    assert await mongo["ledger"].count_documents({"kind": "CLEAR"}) == 120
    assert await verify_balances(mongo) == []
