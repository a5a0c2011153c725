"""`jifen clock`: the sandbox clock of a development instance (app/sandbox_clock.py)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from app.clock import SystemClock
from app.config import Environment, Settings

if TYPE_CHECKING:
    from app.db import Mongo
    from app.sandbox_clock import SandboxTime

    OpenDatabase = Callable[[Settings], AbstractAsyncContextManager[Mongo]]


def add_clock_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], open_database: OpenDatabase
) -> None:
    clock = commands.add_parser(
        "clock", help="development only: move the program's time (the sandbox clock)"
    )
    actions = clock.add_subparsers(dest="clock_command", required=True)
    show = actions.add_parser("show", help="the sandbox time and how far it is from the real one")
    show.set_defaults(run=lambda s, a: _clock(open_database, s, a))
    ahead = actions.add_parser("advance", help="move the time forward, e.g. 30d, 2w, 1d12h, 90m")
    ahead.add_argument(
        "by", type=parse_duration, help="how far: weeks w, days d, hours h, minutes m"
    )
    ahead.set_defaults(run=lambda s, a: _clock(open_database, s, a))
    to = actions.add_parser("set", help="move the time to an instant (not before the last entry)")
    to.add_argument("to", type=_instant, help="a date (midnight UTC) or an instant with offset")
    to.add_argument("--force", action="store_true", help="even before the last ledger entry")
    to.set_defaults(run=lambda s, a: _clock(open_database, s, a))
    back = actions.add_parser("reset", help="back to the real time (not before the last entry)")
    back.add_argument("--force", action="store_true", help="even before the last ledger entry")
    back.set_defaults(run=lambda s, a: _clock(open_database, s, a))


def parse_duration(text: str) -> timedelta:
    """app.sandbox_clock's, imported when a duration is parsed (argparse names it in its error)."""
    from app.sandbox_clock import parse_duration as parse

    return parse(text)


def _instant(text: str) -> datetime:
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or instant: {text!r}") from None
    if instant.tzinfo is None:
        raise argparse.ArgumentTypeError("an instant needs an offset, e.g. 2027-01-01T09:00+08:00")
    return instant


def _clock(open_database: OpenDatabase, settings: Settings, args: argparse.Namespace) -> int:
    from app.sandbox_clock import SandboxOff, SandboxRefused, advance, read_sandbox, reset, set_time

    if settings.env is not Environment.DEV:
        print(SandboxOff(settings.env.value), file=sys.stderr)
        return 2

    async def move() -> SandboxTime:
        real = SystemClock()
        async with open_database(settings) as mongo:
            if args.clock_command == "advance":
                return await advance(mongo, args.by)
            if args.clock_command == "set":
                return await set_time(mongo, real, args.to, force=args.force)
            if args.clock_command == "reset":
                return await reset(mongo, real, force=args.force)
            return await read_sandbox(mongo)

    try:
        moved = asyncio.run(move())
    except SandboxRefused as exc:
        print(exc, file=sys.stderr)
        return 2
    print(describe(moved))
    return 0


def describe(time: SandboxTime) -> str:
    now = (SystemClock().now() + time.offset).isoformat(timespec="seconds")
    if not time.offset:
        return f"sandbox time {now}: the real time"
    sign = "+" if time.offset > timedelta() else "-"
    return f"sandbox time {now}: the real time {sign} {abs(time.offset)}"
