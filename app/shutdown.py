"""What SIGTERM promises: `jifen serve` and `jifen worker` are gone within their grace period,
whatever the database does.

With the embedded database stopped (SIGSTOP), serve took 33.6 s to stop: uvicorn's 4 s for the
requests in flight, then 10 s closing the database client (pymongo ends its sessions and kills its
cursors, waiting 5 s for a server each time), 3 s for the worker child, and 15 s for the database
to stop before it was killed. Now each step has a share of the period, and the signal starts a
clock (StopClock) that, should a step overrun anyway, kills what is left and exits when the
period is up. Cutting the database off loses nothing acknowledged: each commit is on disk before
it is acknowledged (the embedded server syncs on commit), and a transaction cut short is rolled
back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import FrameType

    import uvicorn

log = logging.getLogger(__name__)

# serve: SIGTERM to exit, well inside a container's usual 10 s. Its last resort comes a second
# before, to kill what is left and exit in time.
SERVE_GRACE_SECONDS = 10.0
# Requests in flight have this long to finish (each has its own time budget anyway), then are cut
# off (uvicorn answers them 500).
REQUESTS_GRACE_SECONDS = 4
# Each closing step of the app (its database client, its change stream) at most.
CLOSE_SECONDS = 0.5
# The embedded database, once the worker child is gone, to stop in order (about 2 s when idle);
# then it is killed.
DATABASE_STOP_SECONDS = 3.0
# The worker (`jifen worker`, and serve's child, told at once): SIGTERM to exit.
WORKER_GRACE_SECONDS = 5.0


class StopClock:
    """Started by the first SIGINT or SIGTERM: the time left of the grace period, and a last
    resort when it is up (`last_resort`, then the process exits with status 1)."""

    def __init__(self, grace: float, last_resort: Callable[[], None] = lambda: None) -> None:
        self.grace = grace
        self.last_resort = last_resort
        self.deadline: float | None = None

    def start(self) -> None:
        if self.deadline is not None:
            return
        self.deadline = time.monotonic() + self.grace
        timer = threading.Timer(self.grace, self._expire)
        timer.daemon = True
        timer.start()

    def left(self) -> float:
        if self.deadline is None:
            return self.grace
        return max(0.0, self.deadline - time.monotonic())

    def _expire(self) -> None:
        log.error("still stopping after %.0f s: killing what is left and exiting", self.grace)
        try:
            self.last_resort()
        finally:
            os._exit(1)


async def close_within(
    close: Callable[[], Awaitable[None]], seconds: float = CLOSE_SECONDS
) -> None:
    """`await close()`, given up after `seconds`: a database that does not answer must not hold
    the process open."""
    try:
        async with asyncio.timeout(seconds):
            await close()
    except TimeoutError:
        log.warning("%s did not finish within %.1f s; going on", close, seconds)


def kill_children() -> None:
    """SIGKILL every child of this process (Linux: /proc)."""
    for task in Path(f"/proc/{os.getpid()}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(child), signal.SIGKILL)


def run_uvicorn(config: uvicorn.Config, stopping: Callable[[], None]) -> None:
    """uvicorn.run's own dispatch (one process, or a supervisor of several), `stopping` called as
    soon as SIGINT or SIGTERM arrives. Exits with uvicorn's status 3 if the server did not start.

    uvicorn is imported here, not with the module: every jifen command closes its database with
    close_within, and only `serve` runs uvicorn."""
    import uvicorn
    from uvicorn.supervisors.multiprocess import Multiprocess

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            stopping()
            super().handle_exit(sig, frame)

    class Supervisor(Multiprocess):
        def handle_int(self) -> None:
            stopping()
            super().handle_int()

        def handle_term(self) -> None:
            stopping()
            super().handle_term()

    if config.workers > 1:
        Supervisor(config, sockets=[config.bind_socket()]).run()
        return
    config.load_app()
    server = Server(config)
    server.run()
    if not server.started:
        raise SystemExit(3)  # uvicorn's STARTUP_FAILURE
