"""Environment for product processes (jifen, uvicorn, the worker) that a test starts on its database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx


def jifen_env(mongo_url: str, db_name: str, data_dir: Path, **settings: str) -> dict[str, str]:
    """This machine's environment without stray JIFEN_* values, pointed at the test's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    env.update(
        JIFEN_MONGODB_URL=mongo_url,
        JIFEN_DB_NAME=db_name,
        JIFEN_DATA_DIR=str(data_dir),
        JIFEN_ENV="test",
        **{f"JIFEN_{name.upper()}": value for name, value in settings.items()},
    )
    return env


JIFEN = str(Path(sys.executable).parent / "jifen")


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


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited early"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("the server did not become ready")


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    process.terminate()
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise
