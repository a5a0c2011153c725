"""Environment for product processes (jifen, uvicorn, the worker) that a test starts on its database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from app.auth import TokenIssuer, load_key_material
from app.clock import SystemClock
from app.config import Environment, Settings
from app.embedded import free_port


def new_database_name() -> str:
    """A database name no test has used yet, on the worker's server."""
    return f"t_{uuid.uuid4().hex[:12]}"


def jifen_env(mongo_url: str, db_name: str, data_dir: Path, **settings: str) -> dict[str, str]:
    """This machine's environment without stray JIFEN_* values, pointed at the test's database.
    A request's time budget is widened as in-process tests widen it (tests/conftest.py's
    `settings`): on a loaded machine a purchase waiting for a core must not become an internal
    error; tests/test_database_down.py sets the budget it tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    settings = {"request_timeout_seconds": "60", **settings}
    env.update(
        JIFEN_MONGODB_URL=mongo_url,
        JIFEN_DB_NAME=db_name,
        JIFEN_DATA_DIR=str(data_dir),
        JIFEN_ENV="test",
        **{f"JIFEN_{name.upper()}": value for name, value in settings.items()},
    )
    return env


JIFEN = str(Path(sys.executable).parent / "jifen")


def served_issuer(data_dir: Path) -> TokenIssuer:
    """Tokens a product process on `data_dir` accepts: signed with the key it will load from there
    (generated now if the folder has none yet)."""
    settings = Settings(env=Environment.TEST, mongodb_url="mongodb://unused", data_dir=data_dir)
    keys = load_key_material(settings)
    assert keys.signing is not None
    return TokenIssuer(
        keys.signing,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        clock=SystemClock(),
    )


def start_serve(
    env: dict[str, str], port: int, log: Path, *options: str
) -> subprocess.Popen[bytes]:
    """`jifen serve` as an operator runs it, on the test's database, its output in `log`."""
    with log.open("ab") as output:  # the child keeps its own descriptor
        return subprocess.Popen(
            [JIFEN, "serve", "--port", str(port), *options],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


@contextlib.contextmanager
def api_process(env: dict[str, str], log: Path, *args: str) -> Iterator[int]:
    """A uvicorn process serving app.main on a free port, ready (/readyz 200) when this yields."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory"]
    command += ["--port", str(port), "--ws", "websockets-sansio", *args]
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_ready(port, process, log)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()  # a stalled event loop never handles SIGTERM
            process.wait(20)


def wait_ready(
    port: int, process: subprocess.Popen[bytes], log: Path | None = None, timeout: float = 60
) -> None:
    """Until the process on this port answers /readyz with 200 (`timeout` seconds at most)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert process.poll() is None, log.read_text() if log else "the process exited"
        assert time.monotonic() < deadline, "the process did not become ready"
        time.sleep(0.1)


async def subscriptions_open(port: int, count: int, within: float = 10) -> None:
    """Until the API process on this port holds `count` live subscriptions (its /readyz says so):
    a subscription's first message is sent only when there is something to send."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        while True:
            ready = (await http.get("/readyz", timeout=5)).json()
            if ready.get("subscriptions", 0) >= count:
                return
            assert time.monotonic() < deadline, f"{count} subscriptions expected: {ready}"
            await asyncio.sleep(0.02)


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    process.terminate()
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


class Spawned:
    """How many processes this one has started (the `subprocess.Popen` and `os.fork` audit
    events: asyncio's and multiprocessing's children included)."""

    EVENTS = frozenset({"subprocess.Popen", "os.fork", "os.posix_spawn", "os.exec"})

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, event: str, arguments: tuple[Any, ...]) -> None:
        if event in self.EVENTS:
            self.count += 1


SPAWNED = Spawned()
sys.addaudithook(SPAWNED)
