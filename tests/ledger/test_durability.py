"""An acknowledged write survives the database being SIGKILLed right after it was acknowledged.

The test runs an embedded database of its own, started exactly as the product starts it, so the
kill does not disturb the session's server.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from app.clock import FrozenClock
from app.db import Mongo, connect, ensure_indexes
from app.embedded import EmbeddedMongo
from app.ledger import earn, spend
from tests.ledger.conftest import assert_invariants

MEMBERS = 10
ACKS_BEFORE_KILL = 120


async def _write_until_killed(
    mongo: Mongo, clock: FrozenClock, server: EmbeddedMongo, acked: list[str]
) -> None:
    """Earns and spends from MEMBERS concurrent clients; SIGKILL the server right after an ack."""
    assert server.process is not None
    pid = server.process.pid
    killed = asyncio.Event()

    async def client(member: str) -> None:
        for n in range(10_000):
            key = f"{member}-{n}"
            if n % 2 == 0:
                await earn(mongo, clock, member_id=member, points=10, idempotency_key=key)
            else:
                await spend(mongo, clock, member_id=member, points=3, idempotency_key=key)
            acked.append(key)
            if killed.is_set():
                return
            if len(acked) >= ACKS_BEFORE_KILL:
                os.kill(pid, signal.SIGKILL)  # before any other client sees another reply
                killed.set()
                return  # no write after the kill: it would retry against a dead server

    tasks = [asyncio.create_task(client(f"m{m}")) for m in range(MEMBERS)]
    await asyncio.wait_for(killed.wait(), 120)
    for task in tasks:
        task.cancel()  # whatever was in flight was never acknowledged
    await asyncio.gather(*tasks, return_exceptions=True)
    server.process.wait()


async def test_every_acknowledged_ledger_write_survives_a_killed_database(
    tmp_path: Path, clock: FrozenClock
) -> None:
    server = EmbeddedMongo(tmp_path / "db")
    mongo = connect(server.start(), "jifen", serverSelectionTimeoutMS=2000)
    acked: list[str] = []
    try:
        await ensure_indexes(mongo)
        await _write_until_killed(mongo, clock, server, acked)
    finally:
        await mongo.close()

    restarted = EmbeddedMongo(tmp_path / "db")
    mongo = connect(restarted.start(), "jifen")
    try:
        stored = await mongo["ledger"].distinct("idempotency_key")
        lost = sorted(set(acked) - set(stored))
        assert lost == [], f"{len(lost)} of {len(acked)} acknowledged writes lost: {lost[:5]}"
        await assert_invariants(mongo)
    finally:
        await mongo.close()
        restarted.stop()
