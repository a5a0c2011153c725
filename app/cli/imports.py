"""`jifen import MEMBERS.csv BALANCES.csv [--dry-run]`: members and opening balances from an old
system (app/importer), with a progress bar on stderr, every refused row by file and line on
stderr, and the summary as JSON on stdout. Exit status: 0 all rows taken, 1 some refused,
2 the files or the program could not be read. Audited as the OS user."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from app.config import Settings

if TYPE_CHECKING:
    from app.cli.progress import Draw
    from app.db import Mongo
    from app.importer import Summary

    OpenDatabase = Callable[[Settings], AbstractAsyncContextManager[Mongo]]

SHOWN_ERRORS = 1_000


def add_import_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], open_database: OpenDatabase
) -> None:
    command = commands.add_parser("import", help="members and opening balances from an old system")
    command.add_argument("members", type=Path, help="members.csv")
    command.add_argument("balances", type=Path, help="balances.csv")
    command.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
    command.set_defaults(run=lambda settings, args: _import(open_database, settings, args))


def _import(open_database: OpenDatabase, settings: Settings, args: argparse.Namespace) -> int:
    from app.audit import cli_actor
    from app.cli.progress import progress_bar
    from app.csv_files import decode
    from app.importer import ImportRunning, import_files
    from app.program import ProgramNotConfigured
    from app.sandbox_clock import program_clock

    try:  # bytes, decoded as an upload is: CRs kept, so lines are numbered alike
        members = decode(args.members.read_bytes())
        balances = decode(args.balances.read_bytes())
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot read the files: {exc}", file=sys.stderr)
        return 2

    async def run(draw: Draw) -> Summary:
        async with open_database(settings) as mongo:
            clock = await program_clock(mongo, settings.env)
            return await import_files(
                mongo,
                clock,
                members,
                balances,
                actor=cli_actor(),
                dry_run=args.dry_run,
                progress=lambda done, total: draw(done, total, "members"),
            )

    try:
        with progress_bar(sys.stderr) as draw:
            summary = asyncio.run(run(draw))
    except ProgramNotConfigured:
        print("no program is configured: `jifen program apply` first", file=sys.stderr)
        return 2
    except ImportRunning as exc:
        print(exc, file=sys.stderr)
        return 2
    for error in summary.errors[:SHOWN_ERRORS]:
        print(error, file=sys.stderr)
    if len(summary.errors) > SHOWN_ERRORS:
        print(f"... and {len(summary.errors) - SHOWN_ERRORS} more", file=sys.stderr)
    print(json.dumps({"dry_run": args.dry_run, **summary.counts()}))
    return 1 if summary.errors else 0
