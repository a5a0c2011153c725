"""The sandbox clock: a brand testing its program moves time forward and watches points mature,
warn and expire, without waiting. Development only (JIFEN_ENV=dev).

The clock is the real one plus an offset kept in one database document (`settings`,
`_id: "sandbox_clock"`), so every process on the database, API processes, the worker and the
CLI, reads the same time. A process keeps its copy of the offset and re-reads the document at
least every REFRESH_SECONDS (one small read); `/readyz` and each job step re-read it first, so they
are exact the moment `jifen clock ...` returns. The document carries a version, bumped by every
change, so a re-read that finds the same version changes nothing.

Security times stay real: tokens are minted and checked on the real clock (a token minted by
`jifen token` is not expired by a jump), and so are the worker's leases and schedule.

Moving back: `advance` only moves forward. `set` and `reset` may move back, but not before the
last ledger entry (unless forced): an entry recorded in the future of the clock would break the
ledger's order of events (lots that expire before they were earned, holds released before taken).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pymongo import ReturnDocument
from pymongo.errors import PyMongoError

from app.clock import Clock, SystemClock
from app.config import Environment
from app.db import Document, Mongo

log = logging.getLogger(__name__)

COLLECTION = "settings"
DOCUMENT_ID = "sandbox_clock"
REFRESH_SECONDS = 0.5


class SandboxRefused(Exception):
    """The sandbox clock was asked for something its rules do not allow."""


class SandboxOff(SandboxRefused):
    """Only a development instance has a sandbox clock: production's time is the real one."""

    def __init__(self, env: str) -> None:
        super().__init__(
            f"the sandbox clock moves only with JIFEN_ENV=dev (this instance is {env})"
        )


class ClockWouldGoBack(SandboxRefused):
    """A move back before the last ledger entry would leave that entry in the clock's future."""

    def __init__(self, target: datetime, last_entry: datetime) -> None:
        self.target, self.last_entry = target, last_entry
        super().__init__(
            f"{target.isoformat()} is before the last ledger entry ({last_entry.isoformat()}): "
            "entries would be in the clock's future; --force moves it anyway"
        )


class NotForward(SandboxRefused):
    """`advance` moves time forward only."""

    def __init__(self) -> None:
        super().__init__("advance moves time forward: give a positive duration such as 30d")


@dataclass(frozen=True)
class SandboxTime:
    offset: timedelta
    version: int


DURATION = re.compile(r"(\d+)([wdhms])")
UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(text: str) -> timedelta:
    """`30d`, `2w`, `1d12h`, `90m`: weeks, days, hours, minutes, seconds."""
    compact = text.replace(" ", "").lower()
    parts = DURATION.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"not a duration: {text!r} (e.g. 30d, 2w, 1d12h, 90m)")
    delta = timedelta()
    for number, unit in parts:
        delta += timedelta(**{UNITS[unit]: int(number)})
    return delta


async def read_sandbox(mongo: Mongo) -> SandboxTime:
    return _saved(await mongo[COLLECTION].find_one({"_id": DOCUMENT_ID}))


def _saved(document: Document | None) -> SandboxTime:
    if document is None:
        return SandboxTime(timedelta(), 0)
    return SandboxTime(timedelta(milliseconds=int(document["offset_ms"])), int(document["version"]))


class SandboxClock:
    """The real clock plus the database's offset, as of this process's last read of it."""

    def __init__(self, real: Clock) -> None:
        self.real = real
        self._time = SandboxTime(timedelta(), 0)
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def offset(self) -> timedelta:
        return self._time.offset

    def now(self) -> datetime:
        return self.real.now() + self._time.offset

    async def refresh(self, mongo: Mongo) -> None:
        found = await read_sandbox(mongo)
        if found.version != self._time.version:
            log.info("sandbox clock: offset %s (version %d)", found.offset, found.version)
            self._time = found

    async def follow(self, mongo: Mongo) -> None:
        """Read the offset now, then keep re-reading it in the background until `stop`."""
        await self.refresh(mongo)
        self._task = asyncio.create_task(self._follow(mongo), name="sandbox-clock")

    async def _follow(self, mongo: Mongo) -> None:
        # Not `while True`: a read under way while the database restarts can swallow the task's
        # cancellation (the driver's server selection), and the loop must end all the same.
        while not self._stopped:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await self.refresh(mongo)
            except PyMongoError:
                log.warning("sandbox clock: could not read the offset", exc_info=True)

    async def stop(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def _move(mongo: Mongo, offset: timedelta) -> SandboxTime:
    document = await mongo[COLLECTION].find_one_and_update(
        {"_id": DOCUMENT_ID},
        {"$set": {"offset_ms": _ms(offset)}, "$inc": {"version": 1}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    return _saved(document)


def _ms(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


async def advance(mongo: Mongo, by: timedelta) -> SandboxTime:
    """Move the sandbox time forward by `by` (NotForward unless positive)."""
    if by <= timedelta():
        raise NotForward()
    document = await mongo[COLLECTION].find_one_and_update(
        {"_id": DOCUMENT_ID},
        {"$inc": {"offset_ms": _ms(by), "version": 1}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    return _saved(document)


async def set_time(mongo: Mongo, real: Clock, to: datetime, *, force: bool = False) -> SandboxTime:
    """Make the sandbox time `to`; ClockWouldGoBack if that is before the last ledger entry."""
    if to.tzinfo is None:
        raise ValueError("the sandbox time needs an offset, e.g. 2027-01-01T00:00:00+00:00")
    if not force:
        await _check_not_before_last_entry(mongo, to)
    return await _move(mongo, to - real.now())


async def reset(mongo: Mongo, real: Clock, *, force: bool = False) -> SandboxTime:
    """Back to the real time (the same rule as `set_time`)."""
    if not force:
        await _check_not_before_last_entry(mongo, real.now())
    return await _move(mongo, timedelta())


async def _check_not_before_last_entry(mongo: Mongo, to: datetime) -> None:
    last = await mongo["ledger"].find_one({}, {"recorded_at": 1}, sort=[("recorded_at", -1)])
    if last is not None and _aware(last["recorded_at"]) > to:
        raise ClockWouldGoBack(to, _aware(last["recorded_at"]))


def _aware(instant: datetime) -> datetime:
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


async def program_clock(mongo: Mongo, env: Environment) -> Clock:
    """The time a command runs the program on: the sandbox's in development, else the real one."""
    if env is not Environment.DEV:
        return SystemClock()
    sandbox = SandboxClock(SystemClock())
    await sandbox.refresh(mongo)
    return sandbox
