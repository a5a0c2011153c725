"""The embedded default: a SecantusDB server run as a child process when no MongoDB URL is set.

It runs in its own process (never in ours: it would share our GIL), on a free loopback
port, with its storage under the data folder, and it dies with us. It syncs its log on every
commit (`--sync-on-commit`): without it, a write acknowledged just before the process is killed
can be lost, and a ledger must never lose an acknowledged write.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


class EmbeddedStartError(RuntimeError):
    """The embedded database did not come up; the message says where its log is."""


class EmbeddedNotInstalled(EmbeddedStartError):
    """SecantusDB (the `embedded` extra) is not installed and no MongoDB URL is configured."""

    def __init__(self) -> None:
        super().__init__(
            "no database: JIFEN_MONGODB_URL is not set and the embedded database (SecantusDB) is "
            "not installed. Install it with `pip install 'jifen[embedded]'` (from a checkout: "
            "`pip install -e '.[embedded]'`), or set JIFEN_MONGODB_URL to a MongoDB replica set."
        )


def embedded_installed() -> bool:
    """Whether the `embedded` extra is installed: SecantusDB is optional (GPL-2.0, beta)."""
    try:
        return importlib.util.find_spec("secantus") is not None
    except ImportError:
        return False


def _server_command() -> str:
    if not embedded_installed():
        raise EmbeddedNotInstalled()
    beside = Path(sys.executable).parent / "secantusd-py"
    if beside.exists():
        return str(beside)
    found = shutil.which("secantusd-py")
    if found is None:
        raise EmbeddedStartError("secantusd-py not found: install the SecantusDB package")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def terminate_with_parent(sig: signal.Signals = signal.SIGTERM) -> None:
    """Linux: the kernel sends this process `sig` when its parent dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig)
    if os.getppid() == 1:  # the parent died before prctl took effect: nobody will signal us
        os._exit(1)


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    terminate_with_parent()
    os.setpgrp()  # Ctrl-C in the terminal reaches us, and we stop the server in order.


def database_dies_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """The embedded database is killed outright when its parent dies without stopping it.

    SecantusDB's SIGTERM handler is not safe against a second signal arriving while it runs (it
    sets a threading.Event from inside the handler; seen deadlocked with three nested handlers
    after a SIGKILLed serve, holding the port and the data folder). Every commit is already on
    disk (--sync-on-commit), so a kill loses nothing acknowledged; a normal stop still sends
    SIGTERM first (`stop`).
    """
    terminate_with_parent(signal.SIGKILL)
    os.setpgrp()


def embedded_url(port: int | None) -> str:
    """The embedded database's URL. Its server is polled (`serverMonitoringMode=poll`) rather than
    streamed: SecantusDB answers the driver's awaitable hello only when its 10 s wait ends, so
    after an error that marks the server unknown (a "shutting down" answer, a dropped
    connection) the async driver selected it again only 10 s later, and every request waited.
    Polled, it is asked again within half a second (measured: 10.0 s against 0.5 s)."""
    return f"mongodb://127.0.0.1:{port}/?directConnection=true&serverMonitoringMode=poll"


class EmbeddedMongo:
    """Start, wait for, and stop one SecantusDB process."""

    def __init__(
        self,
        storage_dir: Path,
        *,
        port: int | None = None,
        enable_test_commands: bool = False,
        sync_on_commit: bool = True,
    ) -> None:
        self.storage_dir = storage_dir
        self.port = port
        self.enable_test_commands = enable_test_commands
        self.sync_on_commit = sync_on_commit
        self.process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # start, stop and the supervisor's restart, one at a time
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        return embedded_url(self.port)

    @property
    def log_path(self) -> Path:
        return self.storage_dir.parent / "secantusd.log"

    @property
    def _state_path(self) -> Path:
        return self.storage_dir.parent / "secantusd.json"

    def running_url(self) -> str | None:
        """The URL of a server on this storage whose owner is still alive, if there is one."""
        state = self._read_state()
        if state is None or not alive(int(state["owner_pid"])) or not alive(int(state["pid"])):
            return None
        return embedded_url(int(state["port"]))

    def start(self, timeout: float = 60.0) -> str:
        with self._lock:
            return self._start_locked(timeout)

    def _start_locked(self, timeout: float) -> str:
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        if self.running_url() is not None:
            raise EmbeddedStartError(
                f"another process already runs the embedded database in {self.storage_dir.parent}"
            )
        self._stop_orphan()
        if self.port is None:
            self.port = free_port()
        args = [
            _server_command(),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--storage-path",
            str(self.storage_dir),
            "--log-level",
            "WARNING",
        ]
        if self.enable_test_commands:
            args.append("--enable-test-commands")
        if self.sync_on_commit:
            args.append("--sync-on-commit")
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                args,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                preexec_fn=database_dies_with_parent,
            )
        state = {"pid": self.process.pid, "port": self.port, "owner_pid": os.getpid()}
        # Whole or not at all: a reader (another `jifen` command asking whether a server runs
        # here) that met the file half-written took it for no server at all.
        written = self._state_path.with_suffix(".json.new")
        written.write_text(json.dumps(state))
        os.replace(written, self._state_path)
        self._wait_ready(timeout)
        return self.url

    def _read_state(self) -> dict[str, int] | None:
        try:
            state: dict[str, int] = json.loads(self._state_path.read_text())
        except (OSError, ValueError):
            return None
        return state

    def _wait_ready(self, timeout: float) -> None:
        # Imported here: app.config imports this module, and `jifen --help` needs no driver.
        from pymongo import MongoClient
        from pymongo.errors import PyMongoError

        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmbeddedStartError(
                    f"embedded database exited with {self.process.returncode}; see {self.log_path}"
                )
            client: MongoClient[dict[str, object]] = MongoClient(
                self.url, serverSelectionTimeoutMS=300, connectTimeoutMS=300
            )
            try:
                client.admin.command("ping")
                return
            except PyMongoError:
                time.sleep(0.1)
            finally:
                client.close()
        self._stop_locked(15.0)
        raise EmbeddedStartError(
            f"embedded database did not answer ping in {timeout}s; see {self.log_path}"
        )

    def _stop_orphan(self) -> None:
        """A server whose owner was killed before it could stop it holds the storage lock: stop it."""
        state = self._read_state()
        if state is None:
            return
        pid = int(state["pid"])
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return
        if "secantusd" in cmdline and str(self.storage_dir) in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            for _ in range(150):
                if not alive(pid):
                    break
                time.sleep(0.1)

    def supervise(self, interval: float = 0.5) -> None:
        """Restart the server, on the same port, whenever it dies on its own (until `stop`).

        The clients (this process's, the uvicorn workers', the worker's) keep their URL and
        reconnect; requests in between answer UNAVAILABLE.
        """
        self._stopping.clear()
        threading.Thread(
            target=self._watch, args=(interval,), name="embedded-db-supervisor", daemon=True
        ).start()

    def _watch(self, interval: float) -> None:
        while not self._stopping.wait(interval):
            with self._lock:
                process = self.process
                if self._stopping.is_set() or process is None or process.poll() is None:
                    continue
                log.error(
                    "embedded database (pid %d) exited with %s; restarting it on port %s",
                    process.pid,
                    process.returncode,
                    self.port,
                )
                try:
                    self._start_locked(timeout=60.0)
                except (EmbeddedStartError, OSError):
                    log.exception("embedded database did not restart; trying again")
                else:
                    assert self.process is not None
                    log.warning("embedded database restarted (pid %d)", self.process.pid)

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        with self._lock:
            self._stop_locked(timeout)

    def _stop_locked(self, timeout: float) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        with contextlib.suppress(OSError):
            self._state_path.unlink()

    def __enter__(self) -> EmbeddedMongo:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is gone for our purposes.
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return status.rsplit(")", 1)[-1].split()[0] != "Z"
