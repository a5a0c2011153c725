"""Live expiry warnings at scale: N subscriptions on one API process, one warning each.

Prints delivery latency (from the warning's insert to its arrival at the client) p50/p99, the API
process's memory per open subscription (its RSS from /proc, before and after they open), and how
many cursors the database keeps open for them (target: one change stream per API process, however
many subscribers).

    .venv/bin/python bench/subscriptions.py [--subscriptions 10000] [--settle 2] [--smoke]

The API runs as `jifen serve` runs it (uvicorn's sans-I/O websockets, no per-message deflate).
The subscribers live in another process, each a lean graphql-transport-ws client on a raw socket
(`Subscriber`): the `websockets` client costs too much per socket for one process to hold 10,000
and still note each arrival when it happens. It checks that every subscriber got its own warning
(its points) and that one was issued for each; a failed check ends it with a non-zero status.
`--smoke` runs tiny sizes in a few seconds (CI).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

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
from bench.api import cpu_seconds, start_server, wait_ready

SUBSCRIBE = "subscription { expiryWarnings { points expiresAt daysLeft } }"
# What `--smoke` runs, on a database that skips the sync on commit: every step and figure of the
# full run, at sizes of a few seconds.
SMOKE = {"subscriptions": 20, "settle": 0.2}
OPENING_AT_ONCE = 100  # handshakes in flight while the subscribers open (more, on a loaded
# machine, kept some connection_init waiting past the server's 10 s)
DELIVERY_SECONDS = 120  # every warning arrives within this, or the run fails


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def open_cursors(mongo: Mongo) -> int:
    status = await mongo.client.admin.command("serverStatus")
    return int(status["metrics"]["cursor"]["open"]["total"])


def frame(opcode: int, payload: bytes) -> bytes:
    """A client's WebSocket frame: final, and masked, as the protocol asks of a client."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        header = bytes((0x80 | opcode, 0x80 | size))
    else:
        header = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    key = int.from_bytes((mask * (size // 4 + 1))[:size], "big")
    return header + mask + (int.from_bytes(payload, "big") ^ key).to_bytes(size, "big")


class Subscriber(asyncio.Protocol):
    """One graphql-transport-ws subscriber on a raw socket: the upgrade, connection_init, one
    subscribe, then the time its first `next` arrives (which must carry its own `points`)."""

    def __init__(self, port: int, token: str, points: int) -> None:
        loop = asyncio.get_running_loop()
        self.port, self.token, self.points = port, token, points
        self.subscribed: asyncio.Future[None] = loop.create_future()
        self.arrived: asyncio.Future[float] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.upgraded = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET /graphql HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n".encode()
        )

    def send(self, message: dict[str, object], opcode: int = 0x1) -> None:
        assert self.transport is not None
        self.transport.write(frame(opcode, json.dumps(message).encode()))

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buffer += data
        if not self.upgraded:
            head, found, rest = self.buffer.partition(b"\r\n\r\n")
            if not found:
                return
            if not head.startswith(b"HTTP/1.1 101"):
                return self.fail(f"no upgrade: {head[:60]!r}")
            self.upgraded, self.buffer = True, rest
            init = {"authorization": f"Bearer {self.token}"}
            self.send({"type": "connection_init", "payload": init})
        while len(self.buffer) >= 2:  # the server's frames are unmasked
            opcode, size, start = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F, 2
            if size == 126:
                size, start = int.from_bytes(self.buffer[2:4], "big"), 4
            elif size == 127:
                size, start = int.from_bytes(self.buffer[2:10], "big"), 10
            if len(self.buffer) < start + size:
                return
            payload, self.buffer = self.buffer[start : start + size], self.buffer[start + size :]
            if opcode == 0x9:  # a ping: pong it, or the server closes the socket
                assert self.transport is not None
                self.transport.write(frame(0xA, payload))
            elif opcode == 0x8:
                self.fail(f"closed: {payload!r}")
            elif opcode == 0x1:
                self.on_message(json.loads(payload), now)

    def on_message(self, message: dict[str, object], now: float) -> None:
        if message["type"] == "connection_ack":
            self.send({"id": "w", "type": "subscribe", "payload": {"query": SUBSCRIBE}})
            self.subscribed.set_result(None)
        elif message["type"] == "next" and not self.arrived.done():
            payload = message["payload"]
            assert isinstance(payload, dict)
            warning = payload["data"]["expiryWarnings"]
            if warning["points"] != self.points:
                return self.fail(f"another member's warning: {message}")
            self.arrived.set_result(now)
        else:
            self.fail(f"unexpected: {message}")

    def fail(self, why: str) -> None:
        for future in (self.subscribed, self.arrived):
            if not future.done():
                future.set_exception(RuntimeError(why))

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(f"connection lost: {exc}")


def hold_subscribers(port: int, members: list[tuple[str, int]], pipe: Connection) -> None:
    """The client process: open a subscriber per (token, points), say so, then send back when
    each one's warning arrived (seconds since the epoch), in order."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    async def run() -> None:
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(OPENING_AT_ONCE)

        async def open_one(token: str, points: int) -> Subscriber:
            async with slots:
                _, subscriber = await loop.create_connection(
                    lambda: Subscriber(port, token, points), "127.0.0.1", port
                )
                await asyncio.wait_for(subscriber.subscribed, 60)
                return subscriber

        started = time.monotonic()
        subscribers = await asyncio.gather(*(open_one(t, p) for t, p in members))
        pipe.send(time.monotonic() - started)
        try:
            arrived = await asyncio.wait_for(
                asyncio.gather(*(s.arrived for s in subscribers)), DELIVERY_SECONDS
            )
            pipe.send(arrived)
        finally:
            for subscriber in subscribers:
                if subscriber.transport is not None:
                    subscriber.transport.close()

    try:
        asyncio.run(run())
    except Exception as exc:  # noqa: BLE001 - reported to the bench, which fails with it
        pipe.send(RuntimeError(f"subscribers: {exc!r}"))


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
        ]
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def main(count: int, settle: float, smoke: bool) -> None:
    # Here, not at the top: the subscribers' process imports this module, and needs no schema.
    from app.main import MAX_FRAME_BYTES, WS_PER_MESSAGE_DEFLATE

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        database = EmbeddedMongo(Path(tmp) / "db", sync_on_commit=not smoke)
        url = database.start()
        api: subprocess.Popen[bytes] | None = None
        client: multiprocessing.process.BaseProcess | None = None
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
            members = [(issuer.mint(PrincipalKind.MEMBER, f"m_{i}"), 100 + i) for i in range(count)]
            env = {
                **os.environ,
                "JIFEN_MONGODB_URL": url,
                "JIFEN_DB_NAME": "bench",
                "JIFEN_DATA_DIR": str(data_dir),
                "JIFEN_ENV": "test",
                "JIFEN_LOG_LEVEL": "WARNING",
            }
            cursors_before = await open_cursors(mongo)
            port = free_port()
            # The sockets `jifen serve` runs (app/cli.py).
            served_as = [
                "--ws",
                "websockets-sansio",
                "--ws-max-size",
                str(MAX_FRAME_BYTES),
                "--ws-per-message-deflate",
                str(WS_PER_MESSAGE_DEFLATE).lower(),
            ]
            api = start_server("app.main:create_app", port, env, served_as)
            await wait_ready(f"http://127.0.0.1:{port}/readyz")
            await asyncio.sleep(settle / 2)
            rss_before = rss_kib(api.pid)

            spawn = multiprocessing.get_context("spawn")  # no fork of a process with threads
            pipe, child_end = spawn.Pipe()
            client = spawn.Process(target=hold_subscribers, args=(port, members, child_end))
            client.start()
            opened = await answer(pipe, 600)
            await asyncio.sleep(settle)
            rss_after = rss_kib(api.pid)
            cursors = await open_cursors(mongo) - cursors_before

            issued_at, cpu_before = time.time(), cpu_seconds(api.pid)
            issued = await issue_expiry_warnings(mongo, SystemClock())
            issuing = time.time() - issued_at
            arrived = await answer(pipe, DELIVERY_SECONDS + 10)
            fan_out_cpu = cpu_seconds(api.pid) - cpu_before
            created = {
                d["member_id"]: d["created_at"].timestamp()
                async for d in mongo["notifications"].find({}, {"member_id": 1, "created_at": 1})
            }
            latencies = [(arrival - created[f"m_{i}"]) * 1000 for i, arrival in enumerate(arrived)]
            # One warning for each member; `issued` can count fewer when a batch's insert is
            # retried after it landed (its documents then count as duplicates).
            assert len(created) == count, (issued, len(created), count)
            print(
                f"subscriptions: {count} opened in {opened:.1f} s on one API process "
                f"(load average {os.getloadavg()[0]:.1f})"
            )
            print(
                f"warnings issued: {len(created)} in {issuing:.2f} s (all delivered; "
                f"issue_expiry_warnings counted {issued})"
            )
            print(
                f"API CPU per delivered warning: {fan_out_cpu / count * 1e6:.0f} us "
                "(from /proc, its change stream to its sockets)"
            )
            print(
                f"delivery latency: p50 {statistics.median(latencies):.0f} ms, "
                f"p99 {percentile(latencies, 0.99):.0f} ms, max {max(latencies):.0f} ms "
                "(target p99 < 1000 ms at 10,000)"
            )
            per = (rss_after - rss_before) / count
            print(
                f"API memory: {rss_before / 1024:.1f} MiB idle -> {rss_after / 1024:.1f} MiB; "
                f"{per:.1f} KiB per open subscription (target <= 50)"
            )
            print(
                f"database cursors held for {count} subscribers: {cursors} (target: 1 change stream)"
            )
        finally:
            if client is not None:
                client.join(30)
                if client.is_alive():
                    client.kill()
            await mongo.close()
            if api is not None:
                api.terminate()
                api.wait(20)
            database.stop()


async def answer(pipe: Connection, within: float) -> Any:
    """The client process's next report; its error, raised; or an error if it took too long."""
    if not await asyncio.to_thread(pipe.poll, within):
        raise RuntimeError(f"the subscribers' process said nothing for {within} s")
    report = pipe.recv()
    if isinstance(report, Exception):
        raise report
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=10_000)
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
