"""`jifen serve` against slow clients (slowloris): a connection that is slow to send its request
is closed within the bound, and a client that sends its request at once is served meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.embedded import free_port
from app.http_protocol import MAX_WAITING, MIN_BODY_RATE
from tests.processes import jifen_env, new_database_name, start_serve, stop, wait_ready

HEAD_TIMEOUT = 2.0  # JIFEN_REQUEST_HEAD_TIMEOUT_SECONDS for these tests (10 s by default)
SLACK = 3.0  # a loaded machine's lateness in closing


def serve(mongo_url: str, db_name: str, tmp_path: Path, head_timeout: float) -> Iterator[int]:
    env = jifen_env(
        mongo_url, db_name, tmp_path / "data", request_head_timeout_seconds=str(head_timeout)
    )
    port = free_port()
    process = start_serve(env, port, tmp_path / "serve.log")
    try:
        wait_ready(port, process, tmp_path / "serve.log")
        yield port
    finally:
        stop(process)


@pytest.fixture(scope="module")
def port(mongo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """One served process for the tests at HEAD_TIMEOUT: a slow connection each test opened is
    closed before the test ends (it waits for that), so none is left for the next."""
    folder = tmp_path_factory.mktemp("slow-clients")
    yield from serve(mongo_url, new_database_name(), folder, HEAD_TIMEOUT)


async def trickle(port: int, start: bytes, give_up: float) -> float | None:
    """Send `start`, then one byte every 0.2 s; the seconds until the server closed the
    connection, or None if it had not after `give_up` seconds."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    opened = time.monotonic()
    writer.write(start)
    closed = asyncio.create_task(reader.read())  # b"" (or a refusal) once the server closes
    try:
        while time.monotonic() - opened < give_up:
            done, _ = await asyncio.wait({closed}, timeout=0.2)
            if done:
                return time.monotonic() - opened
            writer.write(b"x")
            await writer.drain()
    except ConnectionError:
        return time.monotonic() - opened
    finally:
        closed.cancel()
        writer.close()
    return None


async def served_meanwhile(port: int, until: asyncio.Future[object]) -> list[int]:
    """/healthz, again and again until `until` is done: the statuses a normal client got."""
    statuses = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        while not until.done():
            statuses.append((await http.get("/healthz")).status_code)
    return statuses


async def test_connections_that_trickle_their_head_are_dropped_while_others_are_served(
    port: int,
) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
    slow = asyncio.gather(
        *(trickle(port, head, give_up=HEAD_TIMEOUT + 10) for _ in range(100)),
        *(trickle(port, b"", give_up=HEAD_TIMEOUT + 10) for _ in range(100)),  # not a byte
    )
    statuses = await served_meanwhile(port, slow)
    closed_after = await slow
    assert None not in closed_after, "a slow connection was never closed"
    assert max(closed_after) < HEAD_TIMEOUT + SLACK, max(closed_after)
    assert statuses and set(statuses) == {200}


async def test_a_body_slower_than_the_floor_rate_is_cut_off(port: int) -> None:
    length = 4 * MIN_BODY_RATE  # due within HEAD_TIMEOUT + 4 s
    head = (
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {length}\r\n\r\n".encode()
    )
    closed_after = await trickle(port, head, give_up=HEAD_TIMEOUT + 4 + 10)
    assert closed_after is not None, "a trickling body was never cut off"
    assert closed_after < HEAD_TIMEOUT + 4 + SLACK


def test_the_longest_waiting_connections_make_room_for_new_ones(
    mongo_url: str, db_name: str, tmp_path: Path
) -> None:
    # A long head timeout: only the cap closes connections here.
    for port in serve(mongo_url, db_name, tmp_path, head_timeout=120):
        asyncio.run(_fill_the_waiting_room(port))


async def _fill_the_waiting_room(port: int) -> None:
    first = [await asyncio.open_connection("127.0.0.1", port) for _ in range(10)]
    rest = [await asyncio.open_connection("127.0.0.1", port) for _ in range(MAX_WAITING)]
    # The ten that waited longest are closed, now, not at the head timeout.
    for reader, _ in first:
        assert await asyncio.wait_for(reader.read(), 10) == b""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        assert (await http.get("/healthz")).status_code == 200
    for _, writer in first + rest:
        writer.close()
