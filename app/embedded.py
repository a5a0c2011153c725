"""The embedded default: a SecantusDB server run as a child process when no MongoDB URL is set.

It runs in its own process (never in ours: it would share our GIL), on a free loopback
port, with its storage under the data folder, and it dies with us.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from pymongo import MongoClient
from pymongo.errors import PyMongoError

_PR_SET_PDEATHSIG = 1


class EmbeddedStartError(RuntimeError):
    """The embedded database did not come up; the message says where its log is."""


def _server_command() -> str:
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


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # Linux: the kernel sends SIGTERM to the server if we are killed, even by SIGKILL.
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    os.setpgrp()  # Ctrl-C in the terminal reaches us, and we stop the server in order.


class EmbeddedMongo:
    """Start, wait for, and stop one SecantusDB process."""

    def __init__(
        self, storage_dir: Path, *, port: int | None = None, enable_test_commands: bool = False
    ) -> None:
        self.storage_dir = storage_dir
        self.port = port
        self.enable_test_commands = enable_test_commands
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    @property
    def log_path(self) -> Path:
        return self.storage_dir.parent / "secantusd.log"

    @property
    def _pid_path(self) -> Path:
        return self.storage_dir.parent / "secantusd.pid"

    def start(self, timeout: float = 60.0) -> str:
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        self._stop_orphan()
        if self.port is None:
            self.port = free_port()
        args = [
            _server_command(),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--storage-path", str(self.storage_dir),
            "--log-level", "WARNING",
        ]  # fmt: skip
        if self.enable_test_commands:
            args.append("--enable-test-commands")
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                args, stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )
        self._pid_path.write_text(str(self.process.pid))
        self._wait_ready(timeout)
        return self.url

    def _wait_ready(self, timeout: float) -> None:
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
        self.stop()
        raise EmbeddedStartError(f"embedded database did not answer ping in {timeout}s; see {self.log_path}")

    def _stop_orphan(self) -> None:
        """A server left by a killed predecessor holds the storage lock: stop it."""
        try:
            pid = int(self._pid_path.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            return
        if "secantusd" in cmdline and str(self.storage_dir) in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.1)

    def stop(self, timeout: float = 15.0) -> None:
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
            self._pid_path.unlink()

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
