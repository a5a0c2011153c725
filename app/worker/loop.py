"""The worker loop: each job runs on its own cadence, only while this process holds the job's lease.

A clean stop (SIGTERM, SIGINT) gives the leases back: left to lapse, they kept every job (expiry,
warnings, 清零, imports) from running anywhere for a lease period after each restart."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from pymongo.errors import PyMongoError

from app.clock import Clock
from app.db import Mongo
from app.heartbeat import Heartbeat
from app.leases import acquire, release_all

log = logging.getLogger(__name__)

# Giving the leases back on a clean stop, at most: a database that does not answer must not eat
# the stop's grace period (app/shutdown.py); the leases then lapse as a crashed worker's would.
RELEASE_SECONDS = 1.0


@dataclass(frozen=True)
class JobOutcome:
    """What one bounded pass did; `more` says work is still waiting, so go again at once."""

    handled: int
    more: bool = False


JobRun = Callable[[Mongo, Clock], Awaitable[JobOutcome]]


@dataclass(frozen=True)
class Job:
    """A scheduled job; `run` does one bounded pass."""

    name: str
    run: JobRun
    every: timedelta


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Worker:
    mongo: Mongo
    clock: Clock
    jobs: Sequence[Job]
    lease_period: timedelta = timedelta(seconds=30)
    owner: str = field(default_factory=worker_id)
    heartbeat: Heartbeat | None = None  # beaten by every pass that reached the database

    async def run_job(self, job: Job) -> JobOutcome | None:
        """Run one pass of `job` if the lease is ours; None when another worker holds it."""
        if not await acquire(self.mongo, self.clock, job.name, self.owner, self.lease_period):
            return None
        outcome = await job.run(self.mongo, self.clock)
        if outcome.handled:
            log.info("job %s handled %d", job.name, outcome.handled)
        return outcome

    async def run_forever(self, stop: asyncio.Event) -> None:
        tasks = [asyncio.create_task(self._loop(job, stop), name=job.name) for job in self.jobs]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.release_leases()

    async def release_leases(self) -> None:
        """Give back the leases this worker holds, once its jobs have stopped."""
        try:
            async with asyncio.timeout(RELEASE_SECONDS):
                released = await release_all(self.mongo, self.owner)
        except (TimeoutError, PyMongoError) as exc:
            log.warning(
                "worker %s could not give its leases back (%s); they lapse", self.owner, exc
            )
            return
        log.info("worker %s gave back %d lease(s)", self.owner, released)

    async def _loop(self, job: Job, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                outcome = await self.run_job(job)
            except Exception:
                log.exception("job %s failed; it will run again", job.name)
                outcome = None
            else:
                if self.heartbeat is not None:
                    self.heartbeat.beat()
            # More work waiting: go again at once; otherwise sleep until the next tick.
            delay = 0.0 if outcome is not None and outcome.more else job.every.total_seconds()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay or 0.001)
