"""Real worker processes: a crashed worker's lease is taken over, a stopped one's is handed over at
once, and no warning is issued twice."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from app.clock import SystemClock
from app.config import Environment, Settings
from app.db import Mongo, connect
from app.embedded import EmbeddedMongo, free_port
from app.program import save_program
from app.seed import DEMO_PROGRAM
from app.shutdown import SERVE_GRACE_SECONDS, WORKER_GRACE_SECONDS
from app.worker import default_jobs
from tests.processes import jifen_env, start_serve

MEMBERS = 1500  # three batches of the warn job (500 each): a kill after the first lands mid-run


def start_worker(
    mongo_url: str, db_name: str, tmp_path: Path, name: str, lease_seconds: str = "2"
) -> subprocess.Popen[bytes]:
    env = jifen_env(
        mongo_url,
        db_name,
        tmp_path,
        worker_interval_seconds="0.2",
        worker_lease_seconds=lease_seconds,
    )
    log = (tmp_path / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
    )


async def lease_owner_pid(mongo: Mongo, job: str) -> int | None:
    lease = await mongo["leases"].find_one({"_id": job})
    return None if lease is None else int(lease["owner"].split(":")[1])


async def wait_for(predicate, within: float = 150.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_second_worker_waits_then_takes_over_without_duplicates(
    mongo: Mongo, mongo_url: str, db_name: str, tmp_path: Path
) -> None:
    now = SystemClock().now()
    await save_program(mongo, SystemClock(), DEMO_PROGRAM)
    # Live lots of many members expiring in 3 days (the warn job reads lots only).
    expires_at = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=3)
    await mongo["lots"].insert_many(
        [
            {
                "member_id": f"m{i}",
                "amount": 100,
                "remaining": 100,
                "held": 0,
                "status": "available",
                "expires_at": expires_at,
            }
            for i in range(MEMBERS)
        ]
    )
    first = start_worker(mongo_url, db_name, tmp_path, "first")
    second = None
    try:
        await wait_for(lambda: _owned(mongo, "warn", first.pid))
        second = start_worker(mongo_url, db_name, tmp_path, "second")
        # The first worker issues warnings in batches; kill it in the middle of the run.
        await wait_for(lambda: _count_above(mongo, 0), within=150)
        issued_before_kill = await mongo["notifications"].count_documents({})
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert (
            await lease_owner_pid(mongo, "warn") == first.pid
        )  # the second never took a live lease
        # Within two lease periods the second worker takes over and finishes the run.
        killed_at = time.monotonic()
        await wait_for(lambda: _owned(mongo, "warn", second.pid), within=10)
        assert time.monotonic() - killed_at < 2 * 2 + 1
        await wait_for(lambda: _count_above(mongo, MEMBERS - 1), within=150)
        await _further_passes(mongo, "warn", 2)  # a whole pass more: still nothing more
        total = await mongo["notifications"].count_documents({})
        assert 0 < issued_before_kill < MEMBERS  # the kill really landed mid-run
        assert total == MEMBERS, (issued_before_kill, total)
        keys = await mongo["notifications"].distinct("dedupe_key")
        assert len(keys) == MEMBERS
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(15)
    assert second is not None and second.returncode == 0


async def _owned(mongo: Mongo, job: str, pid: int) -> bool:
    return await lease_owner_pid(mongo, job) == pid


async def _further_passes(mongo: Mongo, job: str, passes: int) -> None:
    """Until the lease on `job` has been renewed `passes` more times: each pass renews it before
    it runs, so all but the last of the passes seen here have run to their end."""
    seen: set[datetime] = set()

    async def renewed() -> bool:
        lease = await mongo["leases"].find_one({"_id": job})
        if lease is not None:
            seen.add(lease["renewed_at"])
        return len(seen) > passes  # the first value seen may be the pass that was running

    await wait_for(renewed, within=150)  # a pass over the 3,000 lots takes 1 to 4 s here


async def _count_above(mongo: Mongo, count: int) -> bool:
    return await mongo["notifications"].count_documents({}) > count


def test_sigterm_stops_the_worker_within_its_grace_period_even_when_the_database_hangs(
    tmp_path: Path,
) -> None:
    # A database of its own: this one is stopped (SIGSTOP), and answers nothing, ever.
    with EmbeddedMongo(tmp_path / "db", sync_on_commit=False) as database:
        worker = start_worker(database.url, "hang", tmp_path, "worker")
        try:
            log = tmp_path / "worker.log"
            deadline = time.monotonic() + 60
            while "started" not in log.read_text():  # its jobs are running, its leases taken
                assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
            assert database.process is not None
            os.kill(database.process.pid, signal.SIGSTOP)
            started = time.monotonic()
            worker.send_signal(signal.SIGTERM)
            worker.wait(WORKER_GRACE_SECONDS + 30)
            took = time.monotonic() - started
        finally:
            if worker.poll() is None:
                worker.kill()
            if database.process is not None:
                os.kill(database.process.pid, signal.SIGCONT)
    assert took < WORKER_GRACE_SECONDS + 0.5, f"the worker took {took:.1f} s to stop"


# Leases of ten minutes: a worker that did not give them back would hold every job that long.
LONG_LEASE = "600"
# The next process takes every job within this of its start (its imports and connecting are most
# of it): far below LONG_LEASE, so only leases given back can pass.
TAKEN_WITHIN = 30.0


def job_names() -> set[str]:
    settings = Settings(env=Environment.TEST, mongodb_url="mongodb://unused")
    return {job.name for job in default_jobs(settings, httpx.AsyncClient(), httpx.AsyncClient())}


async def _owners(mongo: Mongo, names: set[str]) -> set[int | None]:
    return {await lease_owner_pid(mongo, name) for name in names}


async def _holds_all(mongo: Mongo, names: set[str], pid: int) -> bool:
    return await _owners(mongo, names) == {pid}


async def test_a_worker_stopped_by_sigterm_hands_every_job_to_the_next_at_once(
    mongo: Mongo, mongo_url: str, db_name: str, tmp_path: Path
) -> None:
    names = job_names()
    first = start_worker(mongo_url, db_name, tmp_path, "first", lease_seconds=LONG_LEASE)
    try:
        await wait_for(lambda: _holds_all(mongo, names, first.pid), within=60)
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(WORKER_GRACE_SECONDS + 10) == 0
    assert await _owners(mongo, names) == {None}  # given back, not left to lapse

    second = start_worker(mongo_url, db_name, tmp_path, "second", lease_seconds=LONG_LEASE)
    started = time.monotonic()
    try:
        await wait_for(lambda: _holds_all(mongo, names, second.pid), within=TAKEN_WITHIN)
        took = time.monotonic() - started
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(WORKER_GRACE_SECONDS + 10) == 0
    assert took < TAKEN_WITHIN < float(LONG_LEASE) / 10


def _embedded_url(log: Path, process: subprocess.Popen[bytes]) -> str:
    """The embedded database's address, as serve prints it when it has started it."""
    deadline = time.monotonic() + 60
    while (found := re.search(r"embedded database: (\S+)", log.read_text())) is None:
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    return found.group(1)


async def test_serve_stopped_by_ctrl_c_hands_its_workers_jobs_to_the_next_serve_at_once(
    tmp_path: Path,
) -> None:
    # serve on the embedded default, the worker its child: Ctrl-C (SIGINT) stops both.
    env = jifen_env(
        "unused",
        "jifen",
        tmp_path / "data",
        worker_interval_seconds="0.2",
        worker_lease_seconds=LONG_LEASE,
    )
    del env["JIFEN_MONGODB_URL"], env["JIFEN_DB_NAME"]
    names, log = job_names(), tmp_path / "serve.log"
    for start in ("first", "second"):
        log.write_bytes(b"")
        serve = start_serve(env, free_port(), log)
        try:
            url = _embedded_url(log, serve)
            took = await _taken(url, names, by=_worker_child(serve.pid))
        finally:
            serve.send_signal(signal.SIGINT)
            assert serve.wait(SERVE_GRACE_SECONDS + 10) == 0
        assert took < TAKEN_WITHIN, f"{start} serve: its worker took the jobs after {took:.1f} s"


def _worker_child(serve_pid: int) -> int:
    """The `jifen worker` child that serve starts on the embedded default."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for child in Path(f"/proc/{serve_pid}/task/{serve_pid}/children").read_text().split():
            if b"worker" in Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0"):
                return int(child)
        time.sleep(0.05)
    raise AssertionError("serve started no worker")


async def _taken(url: str, names: set[str], *, by: int) -> float:
    """How long until the process `by` holds every job's lease on the database at `url`."""
    mongo = connect(url, "jifen")
    try:
        started = time.monotonic()
        await wait_for(lambda: _holds_all(mongo, names, by), within=TAKEN_WITHIN)
        return time.monotonic() - started
    finally:
        await mongo.close()
