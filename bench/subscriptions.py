"""Live expiry warnings at scale: N subscriptions on one API process, one warning each.

Prints delivery latency (from the warning's insert to its arrival at the client) p50/p99, the API
process's memory per open subscription, and how many cursors the database keeps open for them
(target: one change stream per API process, however many subscribers).

    .venv/bin/python bench/subscriptions.py [--subscriptions 1000] [--settle 2] [--smoke]

It checks that every subscriber got its own warning (its points) and that one was issued for each;
a failed check ends it with a non-zero status. `--smoke` runs tiny sizes in a few seconds (CI).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench.* when run by path

from app.auth import PrincipalKind, TokenIssuer, build_token_services, load_key_material
from app.clock import SystemClock
from app.config import Environment, Settings
from app.db import Mongo, ensure_indexes
from app.db import connect as connect_db
from app.embedded import EmbeddedMongo, free_port
from app.notifications import issue_expiry_warnings
from app.program import save_program
from app.seed import DEMO_PROGRAM
from bench.api import start_server, wait_ready

SUBSCRIBE = "subscription { expiryWarnings { points expiresAt daysLeft } }"
# What `--smoke` runs, on a database that skips the sync on commit: every step and figure of the
# full run, at sizes of a few seconds.
SMOKE = {"subscriptions": 20, "settle": 0.2}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def open_cursors(mongo: Mongo) -> int:
    status = await mongo.client.admin.command("serverStatus")
    return int(status["metrics"]["cursor"]["open"]["total"])


async def subscribe(port: int, token: str) -> ClientConnection:
    ws = await connect(
        f"ws://127.0.0.1:{port}/graphql",
        subprotocols=[Subprotocol("graphql-transport-ws")],
        max_queue=4,
    )
    init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
    await ws.send(json.dumps(init))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "w", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
    return ws


async def receive_one(ws: ClientConnection, points: int, within: float) -> float:
    """When the subscriber's warning arrived; it must be the warning of its own `points`."""
    message = json.loads(await asyncio.wait_for(ws.recv(), within))
    assert message["type"] == "next", message
    assert message["payload"]["data"]["expiryWarnings"]["points"] == points, message
    return time.time()


async def seed(mongo: Mongo, count: int) -> None:
    await save_program(mongo, SystemClock(), DEMO_PROGRAM)
    expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=5)
    # The warn job reads live lots only; members and lots are written directly to keep set-up short.
    await mongo["lots"].insert_many(
        [
            {
                "member_id": f"m_{i}",
                "amount": 100 + i,
                "remaining": 100 + i,
                "held": 0,
                "status": "available",
                "expires_at": expires_at,
            }
            for i in range(count)
        ]  # fmt: skip
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def main(count: int, settle: float, smoke: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        database = EmbeddedMongo(Path(tmp) / "db", sync_on_commit=not smoke)
        url = database.start()
        api: subprocess.Popen[bytes] | None = None
        clients: list[ClientConnection] = []
        mongo = connect_db(url, "bench")
        try:
            await ensure_indexes(mongo)
            await seed(mongo, count)
            settings = Settings(
                mongodb_url=url, db_name="bench", data_dir=data_dir, env=Environment.TEST
            )
            issuer: TokenIssuer | None = build_token_services(
                settings, load_key_material(settings), SystemClock()
            )[0]
            assert issuer is not None
            env = {**os.environ, "JIFEN_MONGODB_URL": url, "JIFEN_DB_NAME": "bench",
                   "JIFEN_DATA_DIR": str(data_dir), "JIFEN_ENV": "test", "JIFEN_LOG_LEVEL": "WARNING"}  # fmt: skip
            cursors_before = await open_cursors(mongo)
            port = free_port()
            api = start_server("app.main:create_app", port, env)
            await wait_ready(f"http://127.0.0.1:{port}/readyz")
            await asyncio.sleep(settle / 2)
            rss_before = rss_kib(api.pid)

            started = time.monotonic()
            for batch in range(0, count, 100):
                ids = range(batch, min(count, batch + 100))
                clients += await asyncio.gather(
                    *(subscribe(port, issuer.mint(PrincipalKind.MEMBER, f"m_{i}")) for i in ids)
                )
            opened = time.monotonic() - started
            await asyncio.sleep(settle)
            rss_after = rss_kib(api.pid)
            cursors = await open_cursors(mongo) - cursors_before

            waiting = [
                asyncio.create_task(receive_one(ws, 100 + i, 60)) for i, ws in enumerate(clients)
            ]
            issued_at = time.time()
            issued = await issue_expiry_warnings(mongo, SystemClock())
            arrived = await asyncio.gather(*waiting)
            created = {
                d["member_id"]: d["created_at"].timestamp()
                async for d in mongo["notifications"].find({}, {"member_id": 1, "created_at": 1})
            }
            latencies = [(arrival - created[f"m_{i}"]) * 1000 for i, arrival in enumerate(arrived)]
            assert issued == len(created) == count, (issued, len(created), count)
            print(f"subscriptions: {count} opened in {opened:.1f} s on one API process")
            print(f"warnings issued: {issued} in {time.time() - issued_at:.2f} s (all delivered)")
            print(
                f"delivery latency: p50 {statistics.median(latencies):.0f} ms, "
                f"p99 {percentile(latencies, 0.99):.0f} ms, max {max(latencies):.0f} ms "
                "(target p99 < 1000 ms)"
            )
            per = (rss_after - rss_before) / count
            print(f"API memory: {rss_before / 1024:.1f} MiB idle -> {rss_after / 1024:.1f} MiB; "
                  f"{per:.1f} KiB per open subscription")  # fmt: skip
            print(
                f"database cursors held for {count} subscribers: {cursors} (target: 1 change stream)"
            )
        finally:
            for ws in clients:
                await ws.close()
            await mongo.close()
            if api is not None:
                api.terminate()
                api.wait(20)
            database.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument(
        "--settle",
        type=float,
        default=2.0,
        help="seconds the API settles before its memory is read",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds (CI)")
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    asyncio.run(main(args.subscriptions, args.settle, args.smoke))
