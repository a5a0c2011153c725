"""`jifen clear` (bulk 清零 by filter: dry run, confirmation, a job run here with a progress bar,
`--resume JOB_ID`) and `jifen adjust MEMBER POINTS --reason TEXT`, both audited as the OS user."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from app.config import Settings

if TYPE_CHECKING:
    from app.cli.progress import Draw
    from app.clock import Clock
    from app.corrections import PointsJob
    from app.db import Mongo

    OpenDatabase = Callable[[Settings], AbstractAsyncContextManager[Mongo]]


def add_points_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], open_database: OpenDatabase
) -> None:
    clear = commands.add_parser("clear", help="bulk 清零 of a filter's members, as a resumable job")
    which = clear.add_mutually_exclusive_group(required=True)
    which.add_argument("--dormant-days", type=int, help="no earn or spend for more than N days")
    which.add_argument("--tier", help="members of this tier code")
    which.add_argument("--segment", help="members of this segment (its id), decided now")
    which.add_argument("--resume", metavar="JOB_ID", help="go on with a job a crash interrupted")
    clear.add_argument("--dry-run", action="store_true", help="print the members and points only")
    clear.add_argument("--reason", help="why (required to clear); members see it in their history")
    clear.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    clear.add_argument("--key", help="idempotency key (default: a new one)")
    clear.set_defaults(
        run=lambda settings, args: asyncio.run(_clear(open_database, settings, args))
    )

    adjust = commands.add_parser("adjust", help="give (+) or take (-) points of one member")
    adjust.add_argument("member", help="member id")
    adjust.add_argument("points", type=int, help="how many: positive gives, negative takes")
    adjust.add_argument("--reason", required=True, help="why; the member sees it in their history")
    adjust.add_argument("--key", help="idempotency key (default: a new one)")
    adjust.set_defaults(
        run=lambda settings, args: asyncio.run(_adjust(open_database, settings, args))
    )


def _refused() -> tuple[type[Exception], ...]:
    """The refusals both commands print as they are, with exit status 2."""
    from app.corrections import InvalidCorrection, InvalidFilter
    from app.ledger import IdempotencyConflict, InsufficientPoints, InvalidPoints
    from app.segments import SegmentNotFound

    return (
        SegmentNotFound,
        InvalidCorrection,
        InvalidFilter,
        IdempotencyConflict,
        InsufficientPoints,
        InvalidPoints,
    )


def job_progress(draw: Draw) -> Callable[[PointsJob], None]:
    """A job's progress as a bar (app/cli/progress.py) draws it."""
    return lambda job: draw(job.done, job.total, f"members, {job.points} points cleared")


def _totals(job: PointsJob) -> str:
    return json.dumps({"job": job.id, "status": job.status.value, **job.totals()})


async def _clear(open_database: OpenDatabase, settings: Settings, args: argparse.Namespace) -> int:
    from app.audit import cli_actor
    from app.corrections import InvalidFilter, JobKind, MemberFilter, create_job, preview
    from app.sandbox_clock import program_clock

    async with open_database(settings) as mongo:
        clock = await program_clock(mongo, settings.env)
        if args.resume:
            job_id = args.resume
        else:
            try:
                member_filter = MemberFilter(
                    dormant_days=args.dormant_days, tier=args.tier, segment=args.segment
                )
            except InvalidFilter as exc:
                print(exc, file=sys.stderr)
                return 2
            shown = await preview(mongo, member_filter, clock.now())
            if args.dry_run:
                print(json.dumps({"members": shown.members, "points": shown.points}))
                return 0
            if not args.reason:
                print("--reason is required to clear points", file=sys.stderr)
                return 2
            if not args.yes and not _confirm(shown.members, shown.points):
                print("nothing cleared", file=sys.stderr)
                return 1
            try:
                job = await create_job(
                    mongo,
                    clock,
                    kind=JobKind.CLEAR,
                    member_filter=member_filter,
                    reason=args.reason,
                    actor=cli_actor(),
                    idempotency_key=args.key or f"cli-clear-{uuid.uuid4().hex}",
                )
            except _refused() as exc:
                print(exc, file=sys.stderr)
                return 2
            job_id = job.id
            print(f"job {job_id}: {job.total} members", file=sys.stderr)
        return await _run(mongo, clock, job_id)


async def _run(mongo: Mongo, clock: Clock, job_id: str) -> int:
    from app.cli.progress import progress_bar
    from app.corrections import JobBusy, JobNotFound, run_job
    from app.worker import worker_id

    with progress_bar(sys.stderr) as bar:
        draw = job_progress(bar)
        try:
            job = await run_job(mongo, clock, job_id, owner=worker_id(), progress=draw)
        except JobNotFound:
            print(f"no job {job_id}", file=sys.stderr)
            return 2
        except JobBusy:
            print(f"job {job_id} is being run elsewhere (the worker?); try later", file=sys.stderr)
            return 1
        except (KeyboardInterrupt, asyncio.CancelledError):
            print(f"\ninterrupted: resume with `jifen clear --resume {job_id}`", file=sys.stderr)
            return 130
        draw(job)
    print(_totals(job))
    return 0


def _confirm(members: int, points: int) -> bool:
    print(
        f"Clear {points} points of {members} members? [y/N] ", end="", file=sys.stderr, flush=True
    )
    answer = sys.stdin.readline().strip().lower()
    return answer in {"y", "yes"}


async def _adjust(open_database: OpenDatabase, settings: Settings, args: argparse.Namespace) -> int:
    from app.audit import cli_actor
    from app.corrections import adjust_points
    from app.members import MemberNotFound
    from app.sandbox_clock import program_clock

    async with open_database(settings) as mongo:
        clock = await program_clock(mongo, settings.env)
        try:
            entry = await adjust_points(
                mongo,
                clock,
                member_id=args.member,
                points=args.points,
                reason=args.reason,
                actor=cli_actor(),
                idempotency_key=args.key or f"cli-adjust-{uuid.uuid4().hex}",
            )
        except MemberNotFound:
            print(f"no member {args.member}", file=sys.stderr)
            return 2
        except _refused() as exc:
            print(exc, file=sys.stderr)
            return 2
    print(json.dumps({"entry": entry.id, "points": entry.points, "available": entry.balance_after}))
    return 0
