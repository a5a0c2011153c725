"""`jifen program apply | show | versions`: an operator's way to configure the program from a file.

The file is TOML (one table per section, as `jifen program show` prints it): TOML has no null, so
an absent key means "the default", and no Decimal, so money and multipliers are written as strings
("0.01") or numbers; instants are TOML datetimes with their offset. An invalid file is refused
whole, every error listed with its field path; nothing is applied.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
import tomllib
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.config import Settings

if TYPE_CHECKING:
    from app.db import Mongo
    from app.program import Applied, Program, VersionStamp

    OpenDatabase = Callable[[Settings], AbstractAsyncContextManager[Mongo]]
VERSIONS_SHOWN = 100


def add_program_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], open_database: OpenDatabase
) -> None:
    program = commands.add_parser(
        "program", help="the program configuration: apply, show, versions"
    )
    actions = program.add_subparsers(dest="program_command", required=True)

    apply = actions.add_parser("apply", help="apply a TOML file as a new program version")
    apply.add_argument("file", type=Path, help="the program as TOML (`jifen program show`)")
    apply.add_argument(
        "--dry-run", action="store_true", help="print what would change, apply nothing"
    )
    apply.add_argument("--note", help="why (kept with the version)")
    apply.set_defaults(run=lambda s, a: _apply(open_database, s, a))

    show = actions.add_parser("show", help="print the program (the current version by default)")
    show.add_argument("--version", type=int, help="this version (`jifen program versions`)")
    show.add_argument(
        "--format", choices=["toml", "json"], default="toml", help="the output (default: toml)"
    )
    show.set_defaults(run=lambda s, a: _show(open_database, s, a))

    versions = actions.add_parser("versions", help="list versions: who made each, when, why")
    versions.set_defaults(run=lambda s, a: _versions(open_database, s, a))


def _apply(open_database: OpenDatabase, settings: Settings, args: argparse.Namespace) -> int:
    from app.program import ProgramInvalid, apply_program, parse_program, preview_program
    from app.sandbox_clock import program_clock

    try:
        data = tomllib.loads(args.file.read_text(encoding="utf-8"))
        program = parse_program(data)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 1
    except ProgramInvalid as exc:
        print(f"{args.file}: not applied, {len(exc.errors)} error(s):", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 1

    async def run() -> Applied:
        async with open_database(settings) as mongo:
            if args.dry_run:
                return await preview_program(mongo, program)
            return await apply_program(
                mongo,
                await program_clock(mongo, settings.env),
                program,
                updated_by=f"cli:{_user()}",
                note=args.note,
            )

    try:
        applied = asyncio.run(run())
    except ProgramInvalid as exc:
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    print(_outcome(applied, dry_run=args.dry_run))
    for change in applied.changes:
        print(f"  {change}")
    return 0


def _outcome(applied: Applied, *, dry_run: bool) -> str:
    version = applied.stamp.version
    if not applied.changed:
        return f"no change: version {version} is current"
    count = f"{len(applied.changes)} change(s)"
    return (
        f"dry run: would apply version {version}, {count}"
        if dry_run
        else f"applied version {version}, {count}"
    )


def _show(open_database: OpenDatabase, settings: Settings, args: argparse.Namespace) -> int:
    import tomli_w

    from app.program import ProgramNotConfigured, ProgramVersionNotFound, get_program

    async def run() -> Program:
        async with open_database(settings) as mongo:
            return await get_program(mongo, args.version)

    try:
        program = asyncio.run(run())
    except (ProgramNotConfigured, ProgramVersionNotFound) as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps(program.model_dump(mode="json"), ensure_ascii=False, indent=2))
    else:
        print(tomli_w.dumps(toml_mapping(program)), end="")
    return 0


def toml_mapping(program: Program) -> dict[str, Any]:
    """The program as TOML can hold it: no nulls, Decimals as exact strings, instants with offsets."""
    mapping: dict[str, Any] = _tomlable(program.model_dump(mode="python", exclude_none=True))
    return mapping


def _tomlable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _tomlable(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [_tomlable(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


def _versions(open_database: OpenDatabase, settings: Settings, args: argparse.Namespace) -> int:
    from app.program import list_versions

    async def run() -> list[VersionStamp]:
        async with open_database(settings) as mongo:
            stamps, _ = await list_versions(mongo, first=VERSIONS_SHOWN)
            return stamps

    for stamp in asyncio.run(run()):
        at = stamp.updated_at.isoformat() if stamp.updated_at else "-"
        note = f"  {stamp.note}" if stamp.note else ""
        print(f"v{stamp.version}  {at}  {stamp.updated_by or '-'}{note}")
    return 0


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
