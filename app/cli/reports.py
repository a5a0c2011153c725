"""`jifen report <name>`: every operator report on the command line, as JSON lines or as CSV.

    jifen report liability --as-of 2026-12-31 --csv      (a local date: at the end of that day)
    jifen report liability --as-of 2026-12-31T12:00:00+08:00
    jifen report issuance --from 2026-01-01 --to 2026-12-31 --by month --csv
    jifen report liability-series | breakage | rules | partners | channels | stores --from ... --to ...
    jifen report top-earners | redemptions --from ... --to ... [--first N]
    jifen report members --dormant-days 365

The rows are the ones the GraphQL `reports` field returns (the same app.reports values); CSV goes
to stdout, errors to stderr with exit status 2. Reports only read: nothing is audited.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from typing import TYPE_CHECKING

from app.cli.choices import REPORT_PERIODS
from app.clock import SystemClock
from app.config import Settings

if TYPE_CHECKING:
    from app.db import Mongo
    from app.reports import Report, Table

    OpenDatabase = Callable[[Settings], AbstractAsyncContextManager[Mongo]]
    Build = Callable[[Mongo, argparse.Namespace], Awaitable[Report]]


def _liability(mongo: Mongo, args: argparse.Namespace) -> Awaitable[Report]:
    from app.reports import ReportInvalid, liability_as_of

    text: str | None = args.as_of
    if text is None:
        return liability_as_of(mongo, SystemClock())
    try:
        if "T" not in text:
            return liability_as_of(mongo, SystemClock(), on=date.fromisoformat(text))
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise ReportInvalid("as-of", "a date (2026-12-31) or an instant with offset") from None
    if instant.tzinfo is None:
        raise ReportInvalid("as-of", "an instant needs a UTC offset, e.g. 2026-12-31T23:59+08:00")
    return liability_as_of(mongo, SystemClock(), at=instant)


REPORTS = {  # each report's help; _builds() has how each is made
    "liability": "outstanding points and money as of --as-of (default now)",
    "liability-series": "the liability at the end of each day, at that day's point value",
    "issuance": "points issued, redeemed, expired, adjusted, reversed, cleared per --by period",
    "breakage": "expired ÷ issued",
    "rules": "points issued per earn rule and campaign",
    "partners": "points per partner",
    "channels": "points per channel (as each entry names it)",
    "stores": "points per store (as each purchase's till named it)",
    "top-earners": "the members who earned the most",
    "redemptions": "redemptions per reward",
    "members": "active and dormant members",
}
PERIOD_REPORTS = {
    "liability-series",
    "issuance",
    "breakage",
    "rules",
    "partners",
    "channels",
    "stores",
    "top-earners",
    "redemptions",
}


def _builds() -> dict[str, Build]:
    """Each report, from app.reports (imported when a report is run, not to build the parser)."""
    from app.reports import (
        Period,
        breakage,
        by_channel,
        by_partner,
        by_store,
        earn_by_rule,
        liability_series,
        member_activity,
        points_flow,
        redemptions_by_reward,
        top_earners,
    )

    return {
        "liability": _liability,
        "liability-series": lambda m, a: liability_series(m, a.from_, a.to),
        "issuance": lambda m, a: points_flow(m, a.from_, a.to, Period(a.by)),
        "breakage": lambda m, a: breakage(m, a.from_, a.to),
        "rules": lambda m, a: earn_by_rule(m, a.from_, a.to),
        "partners": lambda m, a: by_partner(m, a.from_, a.to),
        "channels": lambda m, a: by_channel(m, a.from_, a.to),
        "stores": lambda m, a: by_store(m, a.from_, a.to),
        "top-earners": lambda m, a: top_earners(m, a.from_, a.to, a.first or 20),
        "redemptions": lambda m, a: redemptions_by_reward(m, a.from_, a.to, a.first or 100),
        "members": lambda m, a: member_activity(m, SystemClock(), a.dormant_days),
    }


def add_report_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], open_database: OpenDatabase
) -> None:
    report = commands.add_parser("report", help="operator reports, as JSON lines or --csv")
    kinds = report.add_subparsers(dest="report", required=True)
    for name, text in REPORTS.items():
        one = kinds.add_parser(name, help=text)
        one.add_argument("--csv", action="store_true", help="print CSV instead of JSON lines")
        if name in PERIOD_REPORTS:
            one.add_argument(
                "--from",
                dest="from_",
                type=date.fromisoformat,
                required=True,
                help="the first local date (YYYY-MM-DD)",
            )
            one.add_argument(
                "--to", type=date.fromisoformat, required=True, help="the last local date"
            )
        if name == "liability":
            one.add_argument("--as-of", help="a local date (end of day) or an instant with offset")
        if name == "issuance":
            one.add_argument(
                "--by",
                choices=REPORT_PERIODS,
                default="day",
                help="one row per period (default: day)",
            )
        if name in ("top-earners", "redemptions"):
            one.add_argument("--first", type=int, help="how many rows")
        if name == "members":
            one.add_argument(
                "--dormant-days", type=int, required=True, help="no earn or spend for N days"
            )
        one.set_defaults(run=lambda s, a: _report(open_database, s, a))


def _report(open_database: OpenDatabase, settings: Settings, args: argparse.Namespace) -> int:
    from app.program import ProgramNotConfigured
    from app.reports import ReportInvalid, to_csv

    build_report = _builds()[args.report]

    async def build() -> Report:
        async with open_database(settings) as mongo:
            return await build_report(mongo, args)

    try:
        table = asyncio.run(build()).table()
    except ReportInvalid as exc:
        print(f"--{exc.field.replace('_', '-')}: {exc.message}", file=sys.stderr)
        return 2
    except ProgramNotConfigured:
        print("no program is configured: `jifen program apply`", file=sys.stderr)
        return 2
    sys.stdout.write(to_csv(table) if args.csv else _json_lines(table))
    return 0


def _json_lines(table: Table) -> str:
    lines = [
        json.dumps(dict(zip(table.header, row, strict=True)), default=str, ensure_ascii=False)
        for row in table.rows
    ]
    return "".join(line + "\n" for line in lines)
