"""A worker killed with SIGKILL in the middle of an expire run: the rerun finishes, totals exact."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import Rolling, expire_due, get_balance
from tests.ledger.conftest import assert_invariants, seed_earns

ROOT = Path(__file__).resolve().parents[2]


async def test_an_expire_run_killed_midway_is_finished_by_the_rerun(
    mongo: Mongo, mongo_url: str, db_name: str, clock: FrozenClock
) -> None:
    await seed_earns(mongo, clock, members=60, lots_each=5, points=7, policy=Rolling(days=1))
    clock.advance(timedelta(days=1))
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.ledger.expire_worker",
        mongo_url,
        db_name,
        clock.now().isoformat(),
        "20",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert worker.stdout is not None
    seen: list[str] = []
    async with asyncio.timeout(60):
        while len(seen) < 3:
            line = (await worker.stdout.readline()).decode()
            assert line.startswith("batch"), line
            seen.append(line)
    worker.send_signal(signal.SIGKILL)  # it has already started its next batch
    assert await worker.wait() == -signal.SIGKILL
    done_by_worker = await mongo["ledger"].count_documents({"kind": "EXPIRE"})
    assert 60 <= done_by_worker < 300

    rerun = await expire_due(mongo, clock, batch_size=50)
    assert rerun.done and rerun.lots == 300 - done_by_worker
    assert await mongo["ledger"].count_documents({"kind": "EXPIRE"}) == 300
    assert await mongo["lots"].count_documents({"status": "expired", "remaining": 0}) == 300
    assert {
        (await get_balance(mongo, f"m{m}", clock.now())).lifetime_expired for m in range(60)
    } == {35}
    assert (await expire_due(mongo, clock)).lots == 0
    await assert_invariants(mongo)
