"""What a WebSocket connection holds is released when it closes, however long its token lives.

The app runs in this test's own event loop under a real uvicorn server, so the test can count the
server's live asyncio tasks before and after a thousand clients came and went.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import uvicorn
from websockets.asyncio.client import connect

from app.auth import PrincipalKind
from app.clock import FrozenClock
from app.config import Settings
from app.embedded import free_port
from app.main import create_app
from app.runtime import Runtime
from tests.api.gql import make_member

SUBSCRIBE = "subscription { expiryWarnings { points expiresAt daysLeft } }"
CLIENTS = 1_000
AT_ONCE = 25


@pytest.fixture
async def server(settings: Settings, clock: FrozenClock) -> AsyncIterator[tuple[str, Runtime]]:
    app = create_app(settings, clock=clock)
    port = free_port()
    config = uvicorn.Config(
        app,
        port=port,
        ws="websockets-sansio",
        lifespan="on",
        log_config=None,
        log_level="warning",
        timeout_graceful_shutdown=5,  # a connection that never ends must not hang the test
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    for _ in range(600):
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"ws://127.0.0.1:{port}/graphql", app.state.runtime
    finally:
        server.should_exit = True
        await serving


async def visit(url: str, token: str) -> None:
    """Connect, authenticate, subscribe, make sure the server took it all in, and leave."""
    async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        await ws.send(json.dumps(init))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv())["type"] == "pong"  # handled in order: subscribed


async def test_a_thousand_closed_subscriptions_leave_no_task_behind(server, clock) -> None:
    url, runtime = server
    assert runtime.issuer is not None
    member_id = await make_member(runtime, clock)
    token = runtime.issuer.mint(PrincipalKind.MEMBER, member_id)  # valid for 15 minutes
    await visit(url, token)
    baseline = len(asyncio.all_tasks())
    for start in range(0, CLIENTS, AT_ONCE):
        await asyncio.gather(*(visit(url, token) for _ in range(start, start + AT_ONCE)))
    # The server finishes each connection's teardown shortly after its client left.
    for _ in range(300):
        left = len(asyncio.all_tasks()) - baseline
        if left <= 0:
            break
        await asyncio.sleep(0.1)
    assert left <= 0, f"{left} tasks outlived their connections"
