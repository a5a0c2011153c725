"""A worker process killed mid-delivery (SIGKILL while the endpoint holds the request): the
next worker sends the same delivery again, with the same webhook-id, once the claim lapses."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from app.clock import SystemClock
from app.db import Mongo
from app.ledger import earn
from app.webhooks import add_endpoint
from tests.processes import jifen_env
from tests.webhooks.receiver import Receiver, receiving


def start_worker(
    mongo_url: str, db_name: str, tmp_path: Path, name: str
) -> subprocess.Popen[bytes]:
    env = jifen_env(
        mongo_url,
        db_name,
        tmp_path,
        worker_interval_seconds="0.2",
        worker_lease_seconds="1",
        webhook_interval_seconds="0.1",
        webhook_claim_seconds="1",
        webhook_timeout_seconds="30",
        webhook_first_backoff_seconds="0.1",
    )
    log = (tmp_path / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
    )


async def wait_for(predicate: Callable[[], Awaitable[bool] | bool], within: float = 90.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = predicate()
        if result if isinstance(result, bool) else await result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def test_a_worker_killed_mid_delivery_is_followed_by_the_same_webhook_id(
    mongo: Mongo, mongo_url: str, db_name: str, tmp_path: Path
) -> None:
    clock = SystemClock()
    with receiving(Receiver(decide=lambda n: "hold" if n == 1 else "ok")) as receiver:
        new = await add_endpoint(
            mongo,
            clock,
            url=receiver.url,
            event_types=["points.earned"],
            actor="op",
            allow_local_http=True,
        )
        receiver.secret = new.secret
        await earn(mongo, clock, member_id="k1", points=7, idempotency_key="k1")
        first = start_worker(mongo_url, db_name, tmp_path, "first")
        try:
            await wait_for(lambda: len(receiver.attempts) == 1)  # the request is in flight
            first.send_signal(signal.SIGKILL)
            first.wait(30)
        finally:
            if first.poll() is None:
                first.kill()
        receiver.release.set()  # the held request ends; its worker is gone
        second = start_worker(mongo_url, db_name, tmp_path, "second")
        try:
            await wait_for(lambda: len(receiver.accepted) == 1)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
        assert receiver.accepted[0].webhook_id == receiver.attempts[0]
        assert receiver.accepted[0].body["data"]["points"] == 7
        assert receiver.bad_signatures == 0
