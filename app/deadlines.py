"""A request's time budget: every database operation inside it shares one deadline.

`time_budget(seconds)` sets pymongo's client-side operation timeout (each command, server
selection and connection check-out get only what is left) and a deadline of ours that the
transaction runner reads, so it stops retrying once the budget is spent instead of retrying a dead
server for its whole bound. Outside a budget (the worker, the CLI) nothing changes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import pymongo

_deadline: ContextVar[float | None] = ContextVar("jifen_deadline", default=None)


@contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    token = _deadline.set(time.monotonic() + seconds)
    try:
        with pymongo.timeout(seconds):
            yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left in the current budget (never below 0), or None outside one."""
    deadline = _deadline.get()
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def spent() -> bool:
    left = remaining()
    return left is not None and left <= 0
