"""Live expiry warnings end to end: two uvicorn API processes, real WebSocket clients, and the
warnings written by a worker running in another process."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.auth import PrincipalKind, TokenIssuer
from app.clock import SystemClock
from app.db import Mongo
from app.ledger import Rolling, earn
from app.program import save_program
from app.seed import DEMO_PROGRAM
from tests.processes import api_process, jifen_env, served_issuer, subscriptions_open

SUBSCRIBE = "subscription { expiryWarnings { points expiresAt daysLeft } }"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def issuer(data_dir: Path) -> TokenIssuer:
    return served_issuer(data_dir)  # the key the API processes will load


@pytest.fixture
def api_ports(
    mongo_url: str, db_name: str, data_dir: Path, issuer: TokenIssuer
) -> Iterator[list[int]]:
    """Two API processes on one database, each with its own change stream."""
    env = jifen_env(mongo_url, db_name, data_dir)
    with ExitStack() as stack:
        yield [
            stack.enter_context(api_process(env, data_dir.parent / f"api-{n}.log")) for n in (1, 2)
        ]


async def subscribe(port: int, token: str | None, query: str = SUBSCRIBE) -> ClientConnection:
    ws = await connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=["graphql-transport-ws"])
    await ws.send(
        json.dumps(
            {
                "type": "connection_init",
                "payload": {"authorization": f"Bearer {token}"} if token else {},
            }
        )
    )
    ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert ack["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "w", "type": "subscribe", "payload": {"query": query}}))
    return ws


async def next_warning(ws: ClientConnection, wait: float) -> dict:
    message = json.loads(await asyncio.wait_for(ws.recv(), wait))
    assert message["type"] == "next", message
    warning: dict = message["payload"]["data"]["expiryWarnings"]
    return warning


@pytest.fixture
async def members(mongo: Mongo) -> AsyncIterator[None]:
    clock = SystemClock()
    await save_program(mongo, clock, DEMO_PROGRAM)
    await earn(
        mongo, clock, member_id="m_1", points=111, idempotency_key="e1", policy=Rolling(days=5)
    )
    await earn(
        mongo, clock, member_id="m_2", points=222, idempotency_key="e2", policy=Rolling(days=5)
    )
    await earn(
        mongo, clock, member_id="m_3", points=333, idempotency_key="e3", policy=Rolling(days=90)
    )
    yield


async def test_each_member_gets_their_own_warning_from_a_worker_process(
    members: None,
    api_ports: list[int],
    issuer: TokenIssuer,
    mongo_url: str,
    db_name: str,
    data_dir: Path,
) -> None:
    a, b = api_ports
    token = {m: issuer.mint(PrincipalKind.MEMBER, m) for m in ("m_1", "m_2", "m_3")}
    clients = {
        "m_1@a": await subscribe(a, token["m_1"]),
        "m_2@b": await subscribe(b, token["m_2"]),
        "m_2@a": await subscribe(a, token["m_2"]),
        "m_3@b": await subscribe(b, token["m_3"]),
    }
    try:
        for port in api_ports:  # the subscriptions are open on both processes: warnings go live
            await subscriptions_open(port, 2)
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.cli",
            "warn",
            env=jifen_env(mongo_url, db_name, data_dir),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await worker.communicate()
        assert json.loads(out) == {"handled": 2}
        written = time.monotonic()
        got = {
            name: await next_warning(ws, 10)
            for name, ws in clients.items()
            if not name.startswith("m_3")
        }
        latency = time.monotonic() - written
        assert got["m_1@a"]["points"] == 111 and got["m_1@a"]["daysLeft"] == 5
        assert got["m_2@b"]["points"] == got["m_2@a"]["points"] == 222
        assert latency < 5, latency
        for ws in clients.values():  # nothing more, and nothing for a member without a warning
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 1.0)
    finally:
        for ws in clients.values():
            await ws.close()

    # A new connection first receives the warnings already issued that still matter.
    late = await subscribe(b, token["m_1"])
    assert (await next_warning(late, 10))["points"] == 111
    await late.close()


async def test_bad_token_is_refused_with_4403_and_an_expired_one_closed_with_4401(
    members: None, api_ports: list[int], issuer: TokenIssuer
) -> None:
    ws = await connect(
        f"ws://127.0.0.1:{api_ports[0]}/graphql", subprotocols=["graphql-transport-ws"]
    )
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": "Bearer forged"}})
    )
    with pytest.raises(ConnectionClosed) as refused:
        await asyncio.wait_for(ws.recv(), 10)
    assert refused.value.rcvd is not None and refused.value.rcvd.code == 4403

    short = issuer.mint(PrincipalKind.MEMBER, "m_3", ttl=timedelta(seconds=2))
    ws = await subscribe(api_ports[1], short)
    with pytest.raises(ConnectionClosed) as expired:
        await asyncio.wait_for(ws.recv(), 10)
    assert expired.value.rcvd is not None and expired.value.rcvd.code == 4401


TODAY = "subscription { warningsIssuedToday }"


async def test_operators_see_todays_warning_count_change_live_and_only_with_the_scope(
    members: None,
    api_ports: list[int],
    issuer: TokenIssuer,
    mongo_url: str,
    db_name: str,
    data_dir: Path,
) -> None:
    port = api_ports[0]
    refused = {
        "member": issuer.mint(PrincipalKind.MEMBER, "m_1"),
        "admin without reports:read": issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["x:y"]),
    }
    for who, token in refused.items():
        ws = await subscribe(port, token, TODAY)
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert message["type"] == "error", who
        assert message["payload"][0]["extensions"]["code"] == "FORBIDDEN", who
        await ws.close()

    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["reports:read"])
    ws = await subscribe(port, admin, TODAY)
    try:
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert first["payload"]["data"] == {"warningsIssuedToday": 0}
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.cli",
            "warn",
            env=jifen_env(mongo_url, db_name, data_dir),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await worker.communicate()
        assert json.loads(out) == {"handled": 2}
        seen = [0]
        while seen[-1] < 2:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            seen.append(message["payload"]["data"]["warningsIssuedToday"])
        assert seen == sorted(seen) and seen[-1] == 2, seen  # counts only grow, to the truth
        with pytest.raises(TimeoutError):  # nothing more until another warning
            await asyncio.wait_for(ws.recv(), 1.5)
    finally:
        await ws.close()
