"""Jobs run under leases: one holder at a time, a crashed holder's lease is taken over, a stopped
one's is given back; the loop's heartbeat."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from pymongo import monitoring

from app.clock import Clock, FrozenClock
from app.db import Mongo, connect
from app.heartbeat import Heartbeat, heartbeat_age
from app.leases import acquire, release
from app.worker import Job, JobOutcome, Worker
from tests.faults import fail_point


async def test_only_one_worker_holds_a_lease(mongo: Mongo, clock: FrozenClock) -> None:
    period = timedelta(seconds=30)
    results = await asyncio.gather(
        *(acquire(mongo, clock, "expire", f"w{i}", period) for i in range(10))
    )
    assert results.count(True) == 1


async def test_holder_renews_and_others_wait_until_it_lapses(
    mongo: Mongo, clock: FrozenClock
) -> None:
    period = timedelta(seconds=30)
    assert await acquire(mongo, clock, "expire", "a", period)
    assert not await acquire(mongo, clock, "expire", "b", period)
    clock.advance(timedelta(seconds=20))
    assert await acquire(mongo, clock, "expire", "a", period)  # renewal
    clock.advance(timedelta(seconds=29))
    assert not await acquire(mongo, clock, "expire", "b", period)
    clock.advance(timedelta(seconds=2))  # a crashed: its lease lapsed
    assert await acquire(mongo, clock, "expire", "b", period)
    assert not await acquire(mongo, clock, "expire", "a", period)


async def test_released_lease_is_free_at_once(mongo: Mongo, clock: FrozenClock) -> None:
    period = timedelta(seconds=30)
    assert await acquire(mongo, clock, "warn", "a", period)
    await release(mongo, "warn", "a")
    assert await acquire(mongo, clock, "warn", "b", period)


async def test_a_second_worker_does_nothing_while_the_lease_is_held(
    mongo: Mongo, clock: FrozenClock
) -> None:
    runs: list[str] = []

    def job_for(name: str) -> Job:
        async def run(m: Mongo, c: Clock) -> JobOutcome:
            runs.append(name)
            return JobOutcome(0)

        return Job("mature", run, timedelta(seconds=1))

    first = Worker(mongo, clock, [job_for("first")], owner="first")
    second = Worker(mongo, clock, [job_for("second")], owner="second")
    assert await first.run_job(first.jobs[0]) == JobOutcome(0)
    assert await second.run_job(second.jobs[0]) is None
    assert runs == ["first"]
    clock.advance(first.lease_period * 2)
    assert await second.run_job(second.jobs[0]) == JobOutcome(0)
    assert runs == ["first", "second"]


async def test_worker_loop_runs_jobs_until_stopped(mongo: Mongo, clock: FrozenClock) -> None:
    passes = 0
    stop = asyncio.Event()

    async def run(m: Mongo, c: Clock) -> JobOutcome:
        nonlocal passes
        passes += 1
        if passes == 3:
            stop.set()
        return JobOutcome(1, more=passes < 3)  # two busy passes back to back, then idle

    worker = Worker(mongo, clock, [Job("tick", run, timedelta(seconds=60))])
    await asyncio.wait_for(worker.run_forever(stop), timeout=10)
    assert passes == 3


async def test_a_stopped_loop_gives_back_its_own_leases_and_no_one_elses(
    mongo: Mongo, clock: FrozenClock
) -> None:
    stop = asyncio.Event()

    async def run(m: Mongo, c: Clock) -> JobOutcome:
        stop.set()
        return JobOutcome(0)

    period = timedelta(seconds=600)
    assert await acquire(mongo, clock, "warn", "other", period)
    worker = Worker(mongo, clock, [Job("tick", run, timedelta(seconds=60))], period, owner="me")
    await asyncio.wait_for(worker.run_forever(stop), timeout=10)
    assert await acquire(mongo, clock, "tick", "next", period)  # at once, not in 600 s
    assert not await acquire(mongo, clock, "warn", "next", period)


async def test_the_heartbeat_beats_on_passes_that_reached_the_database_only(
    mongo: Mongo, clock: FrozenClock, tmp_path: Path
) -> None:
    heartbeat = Heartbeat(tmp_path / "worker.heartbeat", owner="me", every=0)
    stop, failures = asyncio.Event(), 0

    async def failing(m: Mongo, c: Clock) -> JobOutcome:
        nonlocal failures
        failures += 1
        if failures == 3:
            stop.set()
        raise ConnectionError("the database is down")

    broken = Worker(
        mongo,
        clock,
        [Job("broken", failing, timedelta(seconds=0.01))],
        owner="me",
        heartbeat=heartbeat,
    )
    await asyncio.wait_for(broken.run_forever(stop), timeout=10)
    assert failures >= 3 and heartbeat_age(heartbeat.path) is None  # no pass beat

    async def run(m: Mongo, c: Clock) -> JobOutcome:
        stop.set()
        return JobOutcome(0)

    stop.clear()
    worker = Worker(
        mongo, clock, [Job("tick", run, timedelta(seconds=60))], owner="me", heartbeat=heartbeat
    )
    await asyncio.wait_for(worker.run_forever(stop), timeout=10)
    age = heartbeat_age(heartbeat.path)
    assert age is not None and age < 5
    assert heartbeat.path.read_text().startswith("me ")


class _Started(monitoring.CommandListener):
    """Sets `sent` once a findAndModify has been handed to the connection."""

    def __init__(self) -> None:
        self.sent = asyncio.Event()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "findAndModify":
            self.sent.set()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_a_renewal_cancelled_in_flight_has_landed_when_the_cancellation_is_raised(
    mongo: Mongo, mongo_url: str, db_name: str, clock: FrozenClock
) -> None:
    """A clean stop cancels a holder mid-renewal and then releases its leases: the renewal the
    server already has must not land after the release (the lease would stay held a whole period).
    So the cancelled `acquire` waits for its command's answer before raising."""
    period = timedelta(minutes=1)
    assert await acquire(mongo, clock, "import", "a", period)
    listener = _Started()
    watched = connect(mongo_url, db_name, event_listeners=[listener])
    try:
        clock.advance(timedelta(seconds=10))
        stall = {"failCommands": ["findAndModify"], "blockConnection": True, "blockTimeMS": 400}
        async with fail_point(mongo, {"times": 1}, stall):
            renewal = asyncio.create_task(acquire(watched, clock, "import", "a", period))
            await listener.sent.wait()
            renewal.cancel()
            with pytest.raises(asyncio.CancelledError):
                await renewal
            lease = await mongo["leases"].find_one({"_id": "import"})
            assert lease is not None and lease["renewed_at"] == clock.now()
            await release(mongo, "import", "a")
        assert await mongo["leases"].find_one({"_id": "import"}) is None
    finally:
        await watched.close()
