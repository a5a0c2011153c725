"""`jifen messages`: the messages members were sent, or would have been (the dev inbox).

With no provider configured (the embedded default) every message goes to the dev inbox: this
lists them, newest first, with the channel, the text as rendered, and why one was suppressed.
`--member` takes an id, a member number or a phone; `--retry ID` queues a dead letter again;
`--send` runs the worker's job once by hand (route what is new, send what is due)."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from app.clock import SystemClock
from app.config import Settings

if TYPE_CHECKING:
    from app.db import Mongo
    from app.messaging import MessageRecord

    OpenDatabase = Callable[[Settings], AbstractAsyncContextManager[Mongo]]


def add_messages_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], open_database: OpenDatabase
) -> None:
    messages = commands.add_parser(
        "messages", help="members' messages (the dev inbox with no provider configured)"
    )
    messages.add_argument("--member", metavar="ID", help="one member: id, member number or phone")
    messages.add_argument(
        "--status",
        choices=["queued", "sending", "sent", "delivered", "failed", "suppressed"],
        default=None,
        help="only the messages in this state",
    )
    messages.add_argument("--limit", type=int, default=50, help="at most this many (50)")
    messages.add_argument("--json", action="store_true", help="one JSON object a line")
    messages.add_argument("--retry", metavar="MESSAGE_ID", help="queue this dead letter again")
    messages.add_argument(
        "--send",
        action="store_true",
        help="route the new notifications and send what is due now, as the worker's job does",
    )
    messages.set_defaults(run=lambda s, a: asyncio.run(_messages(open_database, s, a)))


async def _messages(
    open_database: OpenDatabase, settings: Settings, args: argparse.Namespace
) -> int:
    from app.members import resolve_member_id
    from app.messaging import MessagingError, list_messages, retry_message

    async with open_database(settings) as mongo:
        if args.send:
            return await _send(settings, mongo)
        if args.retry:
            try:
                record = await retry_message(mongo, SystemClock(), args.retry)
            except MessagingError as exc:
                print(exc)
                return 1
            print(f"{record.id} queued again")
            return 0
        member_id = None
        if args.member:
            member_id = await resolve_member_id(mongo, args.member)
            if member_id is None:
                print(f"no member {args.member!r}")
                return 1
        records = await list_messages(
            mongo, member_id=member_id, status=args.status, limit=max(1, min(args.limit, 1000))
        )
    for record in records:
        print(_json(record) if args.json else _line(record))
    if not records and not args.json:
        print("no messages")
    return 0


async def _send(settings: Settings, mongo: Mongo) -> int:
    """The worker's `messages` job run by hand until nothing is left; prints what it handled."""
    import httpx

    from app.sandbox_clock import program_clock
    from app.worker import messages_job

    clock = await program_clock(mongo, settings.env)
    handled = 0
    async with httpx.AsyncClient(timeout=30) as client:
        job = messages_job(settings, client)
        while True:
            outcome = await job.run(mongo, clock)
            handled += outcome.handled
            if not outcome.more:
                break
    print(json.dumps({"handled": handled}))
    return 0


def _line(record: MessageRecord) -> str:
    state = record.status + (f" ({record.reason})" if record.reason else "")
    where = f" via {record.transport}" if record.transport else ""
    head = (
        f"{record.created_at:%Y-%m-%d %H:%M} {record.member_id} {record.channel} "
        f"{record.kind}: {state}{where}"
    )
    text = " ".join(filter(None, [record.subject, record.text])).replace("\n", " ")
    error = f"\n    error: {record.error_code or ''} {record.error}" if record.error else ""
    return f"{head}\n    {text[:300]}{error}" if text else head + error


def _json(record: MessageRecord) -> str:
    return json.dumps(
        {
            "id": record.id,
            "member_id": record.member_id,
            "channel": record.channel,
            "kind": record.kind,
            "status": record.status,
            "reason": record.reason,
            "transport": record.transport,
            "subject": record.subject,
            "text": record.text,
            "attempts": record.attempts,
            "provider_id": record.provider_id,
            "error": record.error,
            "created_at": record.created_at.isoformat(),
        },
        ensure_ascii=False,
    )
