"""Limits seen from outside, against a real uvicorn process: one abusive request must not stall the
event loop for everybody else."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.auth import PrincipalKind
from app.embedded import free_port
from graphql_schema.engine.safety import MAX_BODY_BYTES
from tests.processes import (
    api_process,
    jifen_env,
    new_database_name,
    served_issuer,
    wait_ready,
)

JIFEN = str(Path(sys.executable).parent / "jifen")

# 30 fragments, each spreading the next twice: 1.2 KB that expands to 2^30 fields.
FRAGMENT_BOMB = (
    "query { ...F0 } "
    + " ".join(f"fragment F{n} on Query {{ ...F{n + 1} ...F{n + 1} }}" for n in range(30))
    + " fragment F30 on Query { __typename }"
)


@dataclass(frozen=True)
class Served:
    port: int
    log: Path
    token: str  # a member's, signed with the key the API process loaded from its data folder


@pytest.fixture(scope="module")
def served(mongo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One API process for the module: each test sends one kind of abuse and reads nothing any
    other test writes (a process start is 1.5 s of CPU)."""
    folder = tmp_path_factory.mktemp("served-limits")
    token = served_issuer(folder / "data").mint(PrincipalKind.MEMBER, "m_1")  # the key, first
    env = jifen_env(mongo_url, new_database_name(), folder / "data")
    with api_process(env, folder / "api.log") as port:
        yield Served(port, folder / "api.log", token)


@pytest.fixture
def port(served: Served) -> int:
    return served.port


@pytest.fixture
def token(served: Served) -> str:
    return served.token


async def test_a_fragment_bomb_is_refused_while_healthz_keeps_answering(port: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        bomb = asyncio.create_task(http.post("/graphql", json={"query": FRAGMENT_BOMB}))
        health = [await http.get("/healthz") for _ in range(3)]
        refused = await bomb
    assert [response.status_code for response in health] == [200, 200, 200]
    body = refused.json()
    assert body["data"] is None
    assert "fields once its fragments are expanded" in body["errors"][0]["message"]


def repeating_one_key() -> str:
    """`program { name }` 495 times (8 KB), with whitespace of its own so no cache knows it."""
    spaces = [" " * random.randint(1, 4) for _ in range(495)]
    return "{" + "".join(f"{gap}program {{ name }}" for gap in spaces) + "}"


async def test_eight_documents_repeating_one_key_keep_healthz_under_300_ms(port: int) -> None:
    # Each of these kept graphql-core's validation busy for 0.5 to 1.3 s: eight at once stalled
    # /healthz for 4.6 to 8.4 s. 300 ms is under one such document on the loop, and above what
    # the validation threads' share of the GIL and a busy second xdist worker add (100 ms was not).
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        await http.get("/healthz")  # connected before the clock starts
        posts = [
            asyncio.create_task(http.post("/graphql", json={"query": repeating_one_key()}))
            for _ in range(8)
        ]
        waits = []
        while not all(post.done() for post in posts):
            started = time.perf_counter()
            assert (await http.get("/healthz")).status_code == 200
            waits.append(time.perf_counter() - started)
        answers = [(await post).json() for post in posts]
    assert max(waits) < 0.3, sorted(waits)[-5:]
    for body in answers:
        assert body["data"] is None
        assert "'program' is selected more than" in body["errors"][0]["message"]


async def opened(port: int, token: str | None) -> ClientConnection:
    """A graphql-transport-ws connection, acknowledged when a token is given."""
    ws = await connect(
        f"ws://127.0.0.1:{port}/graphql", subprotocols=["graphql-transport-ws"], max_size=None
    )
    if token is not None:
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        await ws.send(json.dumps(init))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
    return ws


async def close_of(port: int, token: str | None, *frames: str | bytes) -> tuple[int, str]:
    """Send the frames and return the server's close frame (code, reason)."""
    async with await opened(port, token) as ws:
        for frame in frames:
            await ws.send(frame)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None, "dropped without a close frame"
    return closed.value.rcvd.code, closed.value.rcvd.reason


def subscribe(payload: object, id: object = "1") -> str:
    return json.dumps({"id": id, "type": "subscribe", "payload": payload})


INVALID_FRAMES = {
    "a list": "[1,2]",
    "null": "null",
    "a number": "42",
    "not json": "{nope",
    "no type": "{}",
    "a numeric type": '{"type": 7}',
    "an unknown type": '{"type": "hack"}',
    "a payload that is a list": '{"type": "ping", "payload": [1]}',
    "a subscribe with payload null": subscribe(None),
    "a subscribe without payload": json.dumps({"id": "1", "type": "subscribe"}),
    "a subscribe with a numeric query": subscribe({"query": 42}),
    "a subscribe with a list of variables": subscribe(
        {"query": "{ program { name } }", "variables": [1]}
    ),
    "a subscribe with an object id": subscribe({"query": "{ program { name } }"}, id={"a": 1}),
    "a subscribe with a numeric id": subscribe({"query": "{ program { name } }"}, id=1),
    "a complete without id": '{"type": "complete"}',
    "a subscribe naming no operation": subscribe(
        {"query": "query A { program { name } }", "operationName": "B"}
    ),
    "a binary frame": b"\x00\x01",
    "arrays nested 30,000 deep": "[" * 30_000 + "]" * 30_000,
}


async def test_invalid_websocket_frames_close_with_4400_and_log_nothing(
    port: int, token: str, served: Served
) -> None:
    logged_before = served.log.stat().st_size
    for name, frame in INVALID_FRAMES.items():
        code, reason = await close_of(port, token, frame)
        assert code == 4400, (name, code, reason)
    before_init = await close_of(port, None, "[1,2]")
    assert before_init[0] == 4400
    with served.log.open() as file:
        file.seek(logged_before)
        log = file.read()
    assert "Traceback" not in log and "ERROR" not in log, log


async def test_a_websocket_frame_over_64_kb_is_refused(port: int, token: str) -> None:
    big = subscribe({"query": "{ program { name } }" + " " * MAX_BODY_BYTES})
    code, _ = await close_of(port, token, big)
    assert code == 1009
    async with await opened(port, token) as ws:  # a frame just under the limit is served
        await ws.send(subscribe({"query": "{ program { name } }" + " " * (MAX_BODY_BYTES - 200)}))
        answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert answer["type"] in ("next", "error"), answer


def test_jifen_serve_caps_websocket_frames_in_uvicorn(
    mongo_url: str, db_name: str, tmp_path: Path
) -> None:
    env = jifen_env(mongo_url, db_name, tmp_path / "data")
    port = free_port()
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [JIFEN, "serve", "--port", str(port)], env=env, stdout=log, stderr=log
        )
    try:
        wait_ready(port, process)
        code, reason = asyncio.run(close_of(port, None, "x" * (MAX_BODY_BYTES + 1)))
    finally:
        process.terminate()
        process.wait(30)
    assert code == 1009
    assert "message over" not in reason  # refused by uvicorn's frame limit, not by the view
