"""Keeping what lives long out of Python's full collections, so a busy API never stalls on them.

CPython's cyclic collector walks every tracked object of the eldest generation in one pause, and
starts such a full collection whenever that generation has grown by a quarter. An API process
holding 10,000 live subscriptions tracks some 2.3 million objects (about 225 per socket: its
protocol, tasks, coroutines, the operation's execution state), and a full collection of them took
1.0 to 2.4 s on the bench's machine: every warning in flight, every request, waited behind it
(bench/subscriptions.py, p99 1.1 to 4.4 s). Reconnecting apps keep that generation growing, so the
pause came back every few thousand new subscriptions.

What has survived into the eldest generation is, in such a process, almost all long-lived: the
startup heap (modules, the schema) and live connections. `LongLivedObjects` moves it out of the
collector's sight (`gc.freeze`) each time the unfrozen part of that generation passes
`young_limit` objects, so an automatic full collection walks at most that many. Frozen objects
are still freed by reference counting when their connection ends; only reference cycles among them
wait, for the full collection `LongLivedObjects` runs itself every `full_every` (unfreeze, collect,
freeze again): one pause an hour instead of one per quarter's growth. A closed subscription leaves
no cycle (graphql_schema/engine/acyclic.py); a closed HTTP keep-alive connection leaves about
twenty objects (uvicorn's protocol holds its own bound methods), which is what the hourly
collection reclaims.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.clock import Clock

log = logging.getLogger(__name__)

YOUNG_LIMIT = 200_000  # unfrozen objects a full collection may walk: ~0.1 s on the bench machine
FULL_EVERY = timedelta(hours=1)
CHECK_EVERY = 5.0  # seconds between looks at the eldest generation's size


@dataclass
class LongLivedObjects:
    clock: Clock
    young_limit: int = YOUNG_LIMIT
    full_every: timedelta = FULL_EVERY
    every: float = CHECK_EVERY
    _last_full: datetime | None = field(default=None, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    def start(self) -> None:
        """What exists now (the startup heap) lives as long as the process; from now on, look at
        the eldest generation every `every` seconds."""
        gc.collect()
        gc.freeze()
        self._last_full = self.clock.now()
        self._task = asyncio.create_task(self._run(), name="long-lived-objects")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def step(self) -> None:
        now = self.clock.now()
        if self._last_full is None or now - self._last_full >= self.full_every:
            started = time.perf_counter()
            gc.unfreeze()
            collected = gc.collect()
            gc.freeze()
            self._last_full = now
            log.info(
                "full collection: %d unreachable objects in %.0f ms; %d kept frozen",
                collected,
                (time.perf_counter() - started) * 1000,
                gc.get_freeze_count(),
            )
        elif len(gc.get_objects(generation=2)) > self.young_limit:
            gc.collect(1)  # young garbage is freed now rather than frozen
            gc.freeze()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            self.step()
