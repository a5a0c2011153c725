"""`jifen serve` as a user runs it: a real process, a real socket, the embedded database as a child."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
from pymongo import MongoClient

from app.embedded import alive, embedded_url, free_port
from app.shutdown import SERVE_GRACE_SECONDS
from tests.processes import jifen_env, start_serve, wait_ready

JIFEN = str(Path(sys.executable).parent / "jifen")


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIFEN_")}
    env.update({"JIFEN_DATA_DIR": str(data_dir), "JIFEN_ENV": "dev", **extra})
    return env


def _start(data_dir: Path, port: int, **extra: str) -> subprocess.Popen[bytes]:
    log = (data_dir.parent / "serve.log").open("ab")
    return subprocess.Popen(
        [JIFEN, "serve", "--port", str(port)],
        env=_env(data_dir, **extra),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _db_pid(data_dir: Path) -> int:
    return int(json.loads((data_dir / "secantusd.json").read_text())["pid"])


def _db_url(data_dir: Path) -> str:
    port = json.loads((data_dir / "secantusd.json").read_text())["port"]
    return embedded_url(port)


def _gone(pid: int, timeout: float = 60) -> bool:
    # The database gets SIGTERM (PR_SET_PDEATHSIG) and shuts down in order: about 2 s when idle,
    # 20 s and more on a loaded machine. An orphan is one that never goes.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)
    return False


def _databases_running_on(data_dir: Path) -> list[int]:
    """Every SecantusDB process whose storage is in `data_dir`, whoever started it."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"secantusd" in part for part in cmdline) and str(data_dir).encode() in b" ".join(
            cmdline
        ):
            found.append(int(proc.name))
    return found


def _program_name(port: int) -> str:
    response = httpx.post(
        f"http://127.0.0.1:{port}/graphql", json={"query": "{ program { name currency } }"}
    )
    assert response.status_code == 200
    name: str = response.json()["data"]["program"]["name"]
    return name


def _jifen(data_dir: Path, *args: str) -> str:
    return subprocess.run(
        [JIFEN, *args],
        env=_env(data_dir),
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_serve_seeds_demo_answers_and_keeps_data_across_restart(tmp_path: Path) -> None:
    data_dir, port, db_port = tmp_path / "data", free_port(), free_port()
    process = _start(data_dir, port, JIFEN_EMBEDDED_PORT=str(db_port))
    try:
        wait_ready(port, process)
        assert _program_name(port) == "Jifen Demo Mall"
        assert f"data folder: {data_dir}\n" in (tmp_path / "serve.log").read_text()
        assert _db_url(data_dir) == embedded_url(db_port)
        db_pid = _db_pid(data_dir)
        with MongoClient(_db_url(data_dir)) as client:
            client["jifen"]["program"].update_one(
                {"_id": "current"}, {"$set": {"name": "Renamed Mall"}}
            )
        # A member named by phone or member number, as an operator knows them.
        token = _jifen(data_dir, "token", "member", "+86 138 0013 8000")
        by_number = _jifen(data_dir, "token", "member", "JF000000001")
        assert jwt.decode(by_number, options={"verify_signature": False})["sub"] == "m_demo"
        # The console link names the port serve listens on, not the default one.
        link = _jifen(data_dir, "token", "admin", "ops", "--scope", "members:read", "--link")
        assert link.startswith(f"http://127.0.0.1:{port}/console/#link=")
        me = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={"query": "{ me { memberNo } }"},
            headers={"authorization": f"Bearer {token}"},
        ).json()
        assert me == {"data": {"me": {"memberNo": "JF000000001"}}}
        # A restore under the running server's feet is refused before reading its archive.
        restore = subprocess.run(
            [JIFEN, "restore", str(tmp_path / "any.jifen-backup.gz"), "--replace"],
            env=_env(data_dir),
            capture_output=True,
            text=True,
        )
        assert restore.returncode == 2 and "stop it first" in restore.stderr, restore.stderr
        assert _program_name(port) == "Renamed Mall"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    assert _gone(db_pid), "the embedded database outlived serve"
    assert not (data_dir / "serving.json").exists()  # no stale port for the next --link

    process = _start(data_dir, port)
    try:
        wait_ready(port, process)
        restarted_db_pid = _db_pid(data_dir)
        assert restarted_db_pid != db_pid
        assert _program_name(port) == "Renamed Mall"
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    assert _gone(restarted_db_pid), "the embedded database outlived serve after Ctrl-C"


def _worker_pid(serve_pid: int) -> int:
    """The `jifen worker` child that serve starts on the embedded default."""
    children = Path(f"/proc/{serve_pid}/task/{serve_pid}/children").read_text().split()
    for child in children:
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        if b"worker" in cmdline:
            return int(child)
    raise AssertionError(f"no worker among serve's children {children}")


def _restarted_db_pid(data_dir: Path, old_pid: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = _db_pid(data_dir)
        if pid != old_pid and alive(pid):
            return pid
        time.sleep(0.2)
    raise AssertionError("the embedded database was not restarted")


def test_a_killed_embedded_database_is_restarted_logged_and_stopped_in_time_while_it_restarts(
    tmp_path: Path,
) -> None:
    """The stop's part: the sandbox clock's follower read the database as it died; its task
    swallowed the stop's cancellation in the driver's server selection, and serve was killed by
    its own last resort 9 s later with exit status 1 (seen in CI: SIGTERM a tenth of a second
    after the kill)."""
    data_dir, port = tmp_path / "data", free_port()
    process = _start(data_dir, port)  # JIFEN_ENV=dev: the sandbox clock follows the database
    try:
        wait_ready(port, process)
        db_pid = _db_pid(data_dir)
        assert _databases_running_on(data_dir) == [db_pid]  # what the last check looks for
        os.kill(db_pid, signal.SIGKILL)
        restarted = _restarted_db_pid(data_dir, db_pid)
        wait_ready(port, process)
        assert _program_name(port) == "Jifen Demo Mall"
        log = (tmp_path / "serve.log").read_text()
        assert f"embedded database (pid {db_pid}) exited" in log
        os.kill(restarted, signal.SIGKILL)
        time.sleep(0.1)  # not a wait for an outcome: the stop is to land while it restarts
    finally:
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert process.wait(30) == 0, (tmp_path / "serve.log").read_text()[-2000:]
    assert time.monotonic() - started < SERVE_GRACE_SECONDS - 1
    left = [pid for pid in _databases_running_on(data_dir) if not _gone(pid)]
    assert left == [], "a database started for the data folder outlived serve"


def test_a_killed_server_takes_its_worker_and_database_along_and_the_next_start_reuses_them(
    tmp_path: Path,
) -> None:
    data_dir, port = tmp_path / "data", free_port()
    process = _start(data_dir, port)
    try:
        wait_ready(port, process)
        worker_pid = _worker_pid(process.pid)
        db_pid = _db_pid(data_dir)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    assert _gone(worker_pid, timeout=15), "the worker outlived a killed serve"
    # seen once: the database, sent SIGTERM by the kernel, deadlocked in its own signal handler
    assert _gone(db_pid, timeout=15), "the embedded database outlived a killed serve"
    # and the next start reuses the storage without a lock problem
    process = _start(data_dir, port)
    try:
        wait_ready(port, process)
        assert _program_name(port) == "Jifen Demo Mall"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def _descendants(pid: int) -> list[int]:
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        found += [int(child), *_descendants(int(child))]
    return found


def test_uvicorn_worker_processes_die_with_a_killed_server(
    tmp_path: Path, mongo_url: str, db_name: str
) -> None:
    port = free_port()
    env = jifen_env(mongo_url, db_name, tmp_path / "data")
    process = start_serve(env, port, tmp_path / "serve.log", "--workers", "2")
    try:
        wait_ready(port, process, tmp_path / "serve.log")
        children = _descendants(process.pid)
        assert len(children) >= 2
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    left = [pid for pid in children if not _gone(pid, timeout=15)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == [], "processes of a killed serve kept running (and serving its port)"


def test_sigterm_stops_serve_within_its_grace_period_even_when_the_database_hangs(
    tmp_path: Path,
) -> None:
    data_dir, port = tmp_path / "data", free_port()
    process = _start(data_dir, port)
    db_pid = None
    try:
        wait_ready(port, process)
        db_pid, worker_pid = _db_pid(data_dir), _worker_pid(process.pid)
        everything = [db_pid, *_descendants(process.pid)]
        os.kill(db_pid, signal.SIGSTOP)  # the database hangs: it answers nothing, ever
        # A request in flight, waiting for the database (its answer would come at its budget).
        body = b'{"query": "{ program { name } }"}'
        hanging = socket.create_connection(("127.0.0.1", port), timeout=60)
        hanging.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(SERVE_GRACE_SECONDS + 30)
        took = time.monotonic() - started
        hanging.close()
    finally:
        if process.poll() is None:
            process.kill()
        if db_pid is not None and alive(db_pid):
            os.kill(db_pid, signal.SIGKILL)
    assert took < SERVE_GRACE_SECONDS, f"serve took {took:.1f} s to stop"
    left = [pid for pid in everything if not _gone(pid, timeout=5)]
    assert left == [], f"still running after serve stopped: {left} (worker {worker_pid})"
