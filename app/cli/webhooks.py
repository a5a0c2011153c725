"""`jifen webhooks`: the brand's event subscriptions (app/webhooks, docs/events.md): add, list,
pause, resume, delete, test (a ping), replay a time range."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import TYPE_CHECKING

from app.clock import SystemClock
from app.config import Environment, Settings

if TYPE_CHECKING:
    from app.db import Mongo

    OpenDatabase = Callable[[Settings], AbstractAsyncContextManager[Mongo]]

ACTOR = "cli"


def add_webhook_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], open_database: OpenDatabase
) -> None:
    hooks = commands.add_parser("webhooks", help="event subscriptions of the brand's systems")
    actions = hooks.add_subparsers(dest="webhooks_command", required=True)
    add = actions.add_parser("add", help="register an endpoint; prints its secret, this once")
    add.add_argument("url", help="https URL (plain http to localhost in dev and test)")
    add.add_argument(
        "--event",
        dest="events",
        action="append",
        required=True,
        metavar="TYPE",
        help="an event type from docs/events.md (repeat for more)",
    )
    add.add_argument("--partner", help="only events a partner caused (its id)")
    add.add_argument("--tier", help="only events of members in this tier")
    add.add_argument("--description", default="", help="what the endpoint is for (operators' note)")
    actions.add_parser("list", help="every endpoint with its deliveries by state")
    for name, text in (
        ("pause", "stop delivering (events keep queueing)"),
        ("resume", "deliver again, the queue first"),
        ("delete", "delete the endpoint and its queue"),
        ("test", "send the endpoint a ping event"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("endpoint_id", help="the endpoint's id (jifen webhooks list)")
    replay = actions.add_parser("replay", help="send the events of a time range again")
    replay.add_argument("endpoint_id", help="the endpoint's id (jifen webhooks list)")
    replay.add_argument("since", type=_instant, help="an instant with offset (from, included)")
    replay.add_argument("until", type=_instant, help="an instant with offset (to, excluded)")
    hooks.set_defaults(run=lambda s, a: _run(open_database, s, a))


def _instant(text: str) -> datetime:
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an instant: {text!r}") from None
    if instant.tzinfo is None:
        raise argparse.ArgumentTypeError("an instant needs an offset, e.g. 2027-01-01T09:00+08:00")
    return instant


def _run(open_database: OpenDatabase, settings: Settings, args: argparse.Namespace) -> int:
    from app.webhooks import WebhookError

    async def go() -> int:
        async with open_database(settings) as mongo:
            return await _command(mongo, settings, args)

    try:
        return asyncio.run(go())
    except WebhookError as exc:
        print(f"{exc.field}: {exc}", file=sys.stderr)
        return 1


async def _command(mongo: Mongo, settings: Settings, args: argparse.Namespace) -> int:
    from app.webhooks import (
        add_endpoint,
        delete_endpoint,
        delivery_counts,
        list_endpoints,
        replay,
        send_ping,
        set_paused,
    )

    clock = SystemClock()
    command = args.webhooks_command
    if command == "add":
        new = await add_endpoint(
            mongo,
            clock,
            url=args.url,
            event_types=args.events,
            partner_id=args.partner,
            tier=args.tier,
            description=args.description,
            actor=ACTOR,
            allow_local_http=settings.env is not Environment.PRODUCTION,
        )
        print(new.endpoint.id)
        print(f"secret (shown once): {new.secret}")
    elif command == "list":
        for endpoint in await list_endpoints(mongo):
            counts = await delivery_counts(mongo, endpoint.id)
            states = " ".join(f"{k}={v}" for k, v in counts.items())
            print(
                f"{endpoint.id}\t{endpoint.status.value}\t{endpoint.url}\t"
                f"{','.join(endpoint.event_types)}\t{states}"
            )
    elif command in ("pause", "resume"):
        endpoint = await set_paused(mongo, clock, args.endpoint_id, command == "pause", actor=ACTOR)
        print(f"{endpoint.id} {endpoint.status.value}")
    elif command == "delete":
        await delete_endpoint(mongo, clock, args.endpoint_id, actor=ACTOR)
        print(f"{args.endpoint_id} deleted")
    elif command == "test":
        print(await send_ping(mongo, clock, args.endpoint_id))
    elif command == "replay":
        queued = await replay(mongo, clock, args.endpoint_id, args.since, args.until, actor=ACTOR)
        print(f"{queued} events queued again")
    return 0
