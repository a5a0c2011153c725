"""Cuts off queries past their time budget with one periodic check, not a timer per request.

`asyncio.timeout` costs about 5 us per request (a Timeout object, a timer in the loop's heap,
its cancellation and state checks): a tenth of what GraphQL adds to a cached query. The lean
path (fast_query.py) instead registers each query here; a check every PERIOD seconds cancels the
tasks whose budget is spent, and the query answers UNAVAILABLE. A budget is honoured within
PERIOD. The cancellation lands while the task waits inside the registered block (the check only
runs while the task is suspended), which is where `finish` turns it into "cut off".
"""

from __future__ import annotations

import asyncio
from typing import Any

PERIOD = 0.1  # seconds between checks while queries are in flight


class Watchdog:
    def __init__(self) -> None:
        self._due: dict[asyncio.Task[Any], float] = {}
        self._cut: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None

    def start(self, budget: float) -> asyncio.Task[Any]:
        """Register the current task with `budget` seconds to finish."""
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        self._due[task] = loop.time() + budget
        if self._timer is None:
            self._timer = loop.call_later(PERIOD, self._check)
        return task

    def finish(self, task: asyncio.Task[Any]) -> bool:
        """Unregister; True if the watchdog cancelled the task (its cancellation is withdrawn)."""
        self._due.pop(task, None)
        if task not in self._cut:
            return False
        self._cut.discard(task)
        task.uncancel()
        return True

    def _check(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        spent = [task for task, due in self._due.items() if due <= now]
        for task in spent:
            del self._due[task]
            self._cut.add(task)
            task.cancel("time budget spent")
        self._timer = loop.call_later(PERIOD, self._check) if self._due else None
