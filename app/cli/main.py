"""The `jifen` parser and its own commands: serve, worker, token, partner, seed-demo, the ledger and
outbox jobs, export-schema; each task's other commands come from the sibling modules."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli.backup import add_backup_commands
from app.cli.choices import PARTNER_SCOPES, PRINCIPAL_KINDS
from app.cli.clock import add_clock_commands
from app.cli.imports import add_import_commands
from app.cli.messages import add_messages_commands
from app.cli.points import add_points_commands
from app.cli.program import add_program_commands
from app.cli.reports import add_report_commands
from app.cli.tasks import group_by_task
from app.cli.webhooks import add_webhook_commands
from app.clock import Clock, FrozenClock, SystemClock
from app.config import ConfigurationError, Settings, data_folder_database, load_settings
from app.data_folder import (
    DataFolderMissing,
    DataFolderUnusable,
    create_data_folder,
    forget_serving,
    record_serving,
    require_data_folder,
    serving,
)
from app.embedded import EmbeddedNotInstalled, die_with_parent
from app.logs import configure_logging

if TYPE_CHECKING:
    from types import FrameType

    from app.console_links import ConsoleGrant
    from app.db import Mongo
    from app.ledger import Drift
    from app.sandbox_clock import SandboxClock
    from app.worker import Job, JobOutcome

# Building the parser imports only the light modules above: each command imports the packages it
# uses when it runs, so `jifen --help` or `jifen program show` does not pay for the password
# hasher, the worker or the reports (tests/test_cli_startup.py keeps it so).


def _require_data_folder(settings: Settings) -> None:
    """Every command but `serve` uses the data folder `serve` made, and never makes one."""
    require_data_folder(settings.data_dir, explicit="data_dir" in settings.model_fields_set)


@asynccontextmanager
async def open_database(settings: Settings, *, prepare: bool = True) -> AsyncIterator[Mongo]:
    """The configured database; on the embedded default, the running server's or one of our own.

    Prepared (indexes ensured, books upgraded) unless `prepare` is False: a restore wants the
    database as it finds it."""
    from app.db import connect, ensure_indexes
    from app.members import upgrade_database
    from app.shutdown import close_within

    url = settings.mongodb_url
    embedded = None
    if url is None:
        _require_data_folder(settings)
        embedded = data_folder_database(settings)
        url = embedded.running_url() or embedded.start()
    mongo = connect(url, settings.db_name)
    try:
        if prepare:
            await ensure_indexes(mongo)
            await upgrade_database(mongo, SystemClock().now())
        yield mongo
    finally:
        await close_within(mongo.close)
        if embedded is not None:
            embedded.stop()


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """The API; on the embedded default also the database and the worker, as children.

    SIGINT or SIGTERM stops it all within SERVE_GRACE_SECONDS whatever the database does
    (app/shutdown.py): requests in flight get REQUESTS_GRACE_SECONDS, the worker is told at once
    and gets until the server has stopped, and the database what is left.
    """
    import uvicorn

    from app.auth import load_key_material
    from app.http_protocol import DeadlineProtocol
    from app.main import MAX_FRAME_BYTES, WS_PER_MESSAGE_DEFLATE
    from app.shutdown import (
        DATABASE_STOP_SECONDS,
        REQUESTS_GRACE_SECONDS,
        SERVE_GRACE_SECONDS,
        StopClock,
        kill_children,
        run_uvicorn,
    )

    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    _announce_data_folder(settings)
    # The embedded default's key exists before any worker or token command.
    load_key_material(settings)
    # Children (uvicorn's workers, the worker) read their settings from the environment.
    os.environ["JIFEN_DATA_DIR"] = str(settings.data_dir)
    embedded = None
    worker: subprocess.Popen[bytes] | None = None
    clock = StopClock(SERVE_GRACE_SECONDS - 1, last_resort=kill_children)

    def stopping() -> None:
        clock.start()
        if worker is not None and worker.poll() is None:
            worker.terminate()

    def raise_stop(signum: int, frame: FrameType | None) -> None:
        stopping()
        raise StopRequested(signal.Signals(signum).name)

    # Before uvicorn runs, and after: it re-raises the signal that stopped it to the handler that
    # was installed before it. Ours turns it into an exception, so the `finally` below stops the
    # children in order and the exit status says "clean stop".
    previous = {sig: signal.signal(sig, raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if settings.mongodb_url is None:
            embedded = data_folder_database(settings)
            url = embedded.start()
            embedded.supervise()
            # uvicorn workers read their settings from the environment: point them at our server.
            os.environ["JIFEN_MONGODB_URL"] = url
            print(f"embedded database: {url}", flush=True)
            if settings.seed_demo:
                asyncio.run(_seed(settings.model_copy(update={"mongodb_url": url})))
            if settings.serve_worker:
                worker = _spawn_worker()
        record_serving(settings.data_dir, port)
        config = uvicorn.Config(
            "app.main:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            lifespan="on",
            ws="websockets-sansio",
            ws_max_size=MAX_FRAME_BYTES,
            ws_per_message_deflate=WS_PER_MESSAGE_DEFLATE,
            # The app decides which X-Forwarded-For to believe (JIFEN_TRUSTED_PROXIES, see
            # app/proxies.py); uvicorn's own handling trusts any local peer.
            proxy_headers=False,
            timeout_graceful_shutdown=REQUESTS_GRACE_SECONDS,
            http=DeadlineProtocol,  # slow clients are cut off (app/http_protocol.py)
        )
        run_uvicorn(config, stopping)
    except StopRequested:
        pass
    finally:
        for sig in previous:  # a second signal must not cut the stopping short
            signal.signal(sig, lambda signum, frame: stopping())
        stopping()
        if worker is not None:  # it stops on its own within WORKER_GRACE_SECONDS
            _stop_child(worker, within=clock.left() - DATABASE_STOP_SECONDS)
        if embedded is not None:
            embedded.stop(timeout=max(min(DATABASE_STOP_SECONDS, clock.left() - 0.5), 0.1))
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        forget_serving(settings.data_dir)
    return 0


class StopRequested(Exception):
    """SIGINT or SIGTERM arrived."""


LEGACY_DATA_DIR = Path(".jifen-data")  # the default before the data folder had one place


def _announce_data_folder(settings: Settings) -> None:
    create_data_folder(settings.data_dir)
    print(f"data folder: {settings.data_dir}", flush=True)
    explicit = "data_dir" in settings.model_fields_set
    if (
        not explicit
        and LEGACY_DATA_DIR.is_dir()
        and LEGACY_DATA_DIR.absolute() != settings.data_dir
    ):
        print(
            f"note: {LEGACY_DATA_DIR.absolute()} is an older version's data folder, no longer "
            f"used by default: move its contents into {settings.data_dir}, or set JIFEN_DATA_DIR "
            "to it",
            flush=True,
        )


def _stop_child(child: subprocess.Popen[bytes], *, within: float) -> None:
    child.terminate()
    try:
        child.wait(max(within, 0.1))
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


async def _seed(settings: Settings) -> None:
    from app.seed import DEMO_PASSWORD, DEMO_PHONE, seed_demo

    async with open_database(settings) as mongo:
        result = await seed_demo(mongo, SystemClock())
    state = "seeded the demo program" if result.seeded else "demo program already present"
    print(
        f"{state}. Demo member {result.member_id} (phone {DEMO_PHONE}, password {DEMO_PASSWORD}).\n"
        f"Get a member token:  {Path(sys.argv[0]).name} token member {result.member_id}",
        flush=True,
    )


def _spawn_worker() -> subprocess.Popen[bytes]:
    """The embedded default's worker: a child process, so a new user sees warnings with one command."""
    return subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], preexec_fn=die_with_parent)


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    if settings.push_gateway_url and not settings.push_signing_secret:
        _require_data_folder(settings)  # the deliveries' HMAC key is kept there
    asyncio.run(_run_worker(settings))
    return 0


async def _run_worker(settings: Settings) -> None:
    """Until SIGINT or SIGTERM, then gone within WORKER_GRACE_SECONDS (app/shutdown.py): the job
    step in hand may finish, one the database keeps waiting is cut off."""
    import httpx

    from app.heartbeat import Heartbeat, heartbeat_file
    from app.sandbox_clock import SandboxClock, program_clock
    from app.shutdown import WORKER_GRACE_SECONDS, StopClock
    from app.worker import Worker, default_jobs, webhook_client_for, worker_id

    stop = asyncio.Event()
    clock = StopClock(WORKER_GRACE_SECONDS)

    def stopping() -> None:
        clock.start()
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping)
    async with (
        open_database(settings) as mongo,
        httpx.AsyncClient(timeout=10) as client,
        webhook_client_for(settings) as hooks_client,
    ):
        jobs = default_jobs(settings, client, hooks_client)
        program = await program_clock(mongo, settings.env)
        if isinstance(program, SandboxClock):
            jobs = [_on_sandbox_time(job, program) for job in jobs]
        owner = worker_id()
        worker = Worker(  # leases and the schedule on the real clock, whatever the sandbox's
            mongo,
            SystemClock(),
            jobs,
            lease_period=timedelta(seconds=settings.worker_lease_seconds),
            owner=owner,
            heartbeat=Heartbeat(heartbeat_file(settings.data_dir), owner=owner),
        )
        logging.getLogger("app.worker").info("worker %s started", worker.owner)
        await worker.run_forever(stop)


def _on_sandbox_time(job: Job, sandbox: SandboxClock) -> Job:
    """The job's steps on the sandbox time, re-read before each so a change applies at once."""

    async def run(mongo: Mongo, clock: Clock) -> JobOutcome:
        await sandbox.refresh(mongo)
        return await job.run(mongo, sandbox)

    return dataclasses.replace(job, run=run)


def _at(value: str | None) -> Clock:
    if value is None:
        return SystemClock()
    instant = datetime.fromisoformat(value)
    if instant.tzinfo is None:
        raise SystemExit("--as-of needs a UTC offset, e.g. 2027-01-01T00:00:00+00:00")
    return FrozenClock(instant)


JOBS = {  # each scheduled job's step, by hand: its name in app.worker and its help
    "expire": "expire points due at --as-of (default now)",
    "warn": "issue the expiry warnings due at --as-of",
    "mature": "make pending points available at --as-of",
    "release-holds": "release holds whose TTL ended by --as-of",
    "tiers": "move down members whose qualifying points fell, as of --as-of",
    "referrals": "reward or cancel the referrals whose purchase matured by --as-of",
    "release-unpaid": "release points + cash redemptions unpaid by --as-of",
}


def _job_step(name: str) -> Callable[[Mongo, Clock], Awaitable[JobOutcome]]:
    from app.worker import (
        expire,
        mature,
        referrals,
        release_holds,
        tiers,
        unpaid_redemptions,
        warn,
    )

    steps = {
        "expire": expire,
        "warn": warn,
        "mature": mature,
        "release-holds": release_holds,
        "tiers": tiers,
        "referrals": referrals,
        "release-unpaid": unpaid_redemptions,
    }
    return steps[name]


def _one_job(name: str) -> Callable[[Settings, argparse.Namespace], int]:
    def command(settings: Settings, args: argparse.Namespace) -> int:
        from app.sandbox_clock import program_clock
        from app.worker import JobOutcome

        run = _job_step(name)

        async def once() -> JobOutcome:
            async with open_database(settings) as mongo:
                clock = _at(args.as_of) if args.as_of else await program_clock(mongo, settings.env)
                outcome = JobOutcome(0, more=True)
                total = 0
                while outcome.more:
                    outcome = await run(mongo, clock)
                    total += outcome.handled
                return JobOutcome(total)

        print(json.dumps({"handled": asyncio.run(once()).handled}))
        return 0

    return command


def cmd_verify(settings: Settings, args: argparse.Namespace) -> int:
    from app.ledger import verify_balances

    async def verify() -> list[Drift]:
        async with open_database(settings) as mongo:
            return await verify_balances(mongo, args.member)

    drifts = asyncio.run(verify())
    for drift in drifts:
        print(drift)
    print(f"{len(drifts)} drift(s)" if drifts else "no drift: every balance matches the ledger")
    return 1 if drifts else 0


def cmd_outbox(settings: Settings, args: argparse.Namespace) -> int:
    """Operators: list deliveries by status, or give a dead-lettered one a fresh set of attempts."""
    from app.notifications import retry_dead

    async def outbox() -> int:
        async with open_database(settings) as mongo:
            if args.retry:
                retried = await retry_dead(mongo, SystemClock(), args.retry)
                print("retrying" if retried else "no dead delivery with that id")
                return 0 if retried else 1
            cursor = mongo["outbox"].find({"status": args.status}).sort("created_at", -1).limit(50)
            async for delivery in cursor:
                print(
                    json.dumps(
                        {
                            "id": str(delivery["_id"]),
                            "kind": delivery["kind"],
                            "key": delivery["idempotency_key"],
                            "attempts": delivery["attempts"],
                            "last_error": delivery.get("last_error"),
                        },
                        ensure_ascii=False,
                    )
                )
            return 0

    return asyncio.run(outbox())


def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    asyncio.run(_seed(settings))
    return 0


def cmd_partner(settings: Settings, args: argparse.Namespace) -> int:
    """Operators: register a partner (prints its id and how to mint its token), list, suspend."""
    from app.audit import cli_actor
    from app.partners import (
        PartnerRefused,
        PartnerStatus,
        list_partners,
        register_partner,
        set_partner_status,
    )

    async def partner() -> int:
        async with open_database(settings) as mongo:
            if args.partner_command == "add":
                try:
                    added = await register_partner(
                        mongo,
                        SystemClock(),
                        name=args.name,
                        scopes=args.scope or [],
                        actor=cli_actor(),
                    )
                except PartnerRefused as exc:
                    print(exc, file=sys.stderr)
                    return 2
                print(added.id)
                print(f"mint its token:  {Path(sys.argv[0]).name} token partner {added.id}")
                return 0
            if args.partner_command == "suspend":
                found = await set_partner_status(
                    mongo, SystemClock(), args.id, PartnerStatus.SUSPENDED, actor=cli_actor()
                )
                print("suspended" if found else "no such partner")
                return 0 if found else 1
            for each in await list_partners(mongo):
                print(
                    json.dumps(
                        {
                            "id": each.id,
                            "name": each.name,
                            "scopes": sorted(each.scopes),
                            "status": each.status.value,
                        },
                        ensure_ascii=False,
                    )
                )
            return 0

    return asyncio.run(partner())


async def _partner_scopes(settings: Settings, partner_id: str) -> frozenset[str] | None:
    from app.partners import PartnerStatus, get_partner

    async with open_database(settings) as mongo:
        found = await get_partner(mongo, partner_id)
    return None if found is None or found.status is not PartnerStatus.ACTIVE else found.scopes


async def _console_link(settings: Settings, grant: ConsoleGrant) -> str:
    from app.audit import cli_actor
    from app.console_links import create_link
    from app.sandbox_clock import program_clock

    async with open_database(settings) as mongo:
        # Redeemed on the served program's clock: made on the same one.
        clock = await program_clock(mongo, settings.env)
        return await create_link(mongo, clock, grant, actor=cli_actor())


async def _member_id(settings: Settings, reference: str) -> str | None:
    from app.members import resolve_member_id

    async with open_database(settings) as mongo:
        return await resolve_member_id(mongo, reference)


def cmd_token(settings: Settings, args: argparse.Namespace) -> int:
    from app.auth import PrincipalKind, TokenIssuer, generates_key, load_key_material
    from app.console_links import ConsoleGrant

    if generates_key(settings):
        _require_data_folder(settings)  # a new key here would sign tokens no server accepts
    keys = load_key_material(settings)
    if keys.signing is None:
        print("no signing key is configured (set JIFEN_JWT_PRIVATE_KEY_FILE)", file=sys.stderr)
        return 2
    scopes = args.scope or ()
    if args.kind == PrincipalKind.MEMBER.value:
        member_id = asyncio.run(_member_id(settings, args.subject))
        if member_id is None:
            print(f"no member has the id, member number or phone {args.subject}", file=sys.stderr)
            return 2
        args.subject = member_id
    if args.kind == PrincipalKind.PARTNER.value:
        # A partner's token carries the scopes the registry grants it (or fewer, if asked).
        granted = asyncio.run(_partner_scopes(settings, args.subject))
        if granted is None:
            print(f"no active partner {args.subject}: `jifen partner add`", file=sys.stderr)
            return 2
        if not set(scopes) <= granted:
            print(f"the partner is granted only {sorted(granted)}", file=sys.stderr)
            return 2
        scopes = tuple(scopes) or tuple(sorted(granted))
    ttl_seconds = args.ttl or settings.access_token_ttl_seconds
    if args.link:
        if args.kind != PrincipalKind.ADMIN.value:
            print("--link opens the operator console: admin tokens only", file=sys.stderr)
            return 2
        grant = ConsoleGrant(args.subject, tuple(scopes), ttl_seconds)
        code = asyncio.run(_console_link(settings, grant))
        running = serving(settings.data_dir)
        base = args.base_url or f"http://127.0.0.1:{running.port if running else settings.port}"
        print(f"{base.rstrip('/')}/console/#link={code}")
        print("(opens once, within 10 minutes)", file=sys.stderr)
        return 0
    issuer = TokenIssuer(
        keys.signing,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        clock=SystemClock(),
    )
    token = issuer.mint(
        PrincipalKind(args.kind),
        args.subject,
        scopes=scopes,
        ttl=timedelta(seconds=ttl_seconds),
    )
    print(token)
    return 0


def cmd_export_schema(settings: Settings, args: argparse.Namespace) -> int:
    from graphql_schema.export import export_sdl

    text = export_sdl()
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
    return 0


DATA_DIR_HELP = "the data folder (default: JIFEN_DATA_DIR, else the platform's user data folder)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jifen", description="Jifen loyalty points platform")
    parser.add_argument("--data-dir", type=Path, metavar="DIR", help=DATA_DIR_HELP)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve", help="serve the GraphQL API (embedded database by default)"
    )
    serve.add_argument("--host", help="the address to listen on (default: JIFEN_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="the port to listen on (default: JIFEN_PORT, 8000)")
    serve.add_argument("--workers", type=int, help="API processes (default: JIFEN_WORKERS, 1)")
    serve.set_defaults(run=cmd_serve)

    token = commands.add_parser("token", help="mint an access token with the configured key")
    token.add_argument("kind", choices=PRINCIPAL_KINDS, help="who the token speaks for")
    token.add_argument(
        "subject",
        help="a member's id, member number or phone; a partner's id; an operator's name",
    )
    token.add_argument("--scope", action="append", help="a scope (repeatable)")
    token.add_argument("--ttl", type=int, help="lifetime in seconds")
    token.add_argument(
        "--link",
        action="store_true",
        help="admin only: print a one-time link that opens the console signed in, not the token",
    )
    token.add_argument(
        "--base-url", help="the console's address for --link (default: the running serve's port)"
    )
    token.set_defaults(run=cmd_token)

    partner = commands.add_parser("partner", help="partners: add, list, suspend")
    partner_commands = partner.add_subparsers(dest="partner_command", required=True)
    add = partner_commands.add_parser("add", help="register a partner; prints its id")
    add.add_argument("name", help="the partner's name, as operators see it")
    add.add_argument(
        "--scope", action="append", help=f"one of {', '.join(sorted(PARTNER_SCOPES))} (repeatable)"
    )
    partner_commands.add_parser("list", help="every registered partner")
    suspend = partner_commands.add_parser("suspend", help="refuse the partner's tokens")
    suspend.add_argument("id", help="the partner's id (`jifen partner list`)")
    partner.set_defaults(run=cmd_partner)

    seed = commands.add_parser("seed-demo", help="seed the demo program into an empty database")
    seed.set_defaults(run=cmd_seed)

    worker = commands.add_parser("worker", help="run the scheduled jobs under leases")
    worker.set_defaults(run=cmd_worker)

    for name, text in JOBS.items():
        once = commands.add_parser(name, help=text)
        once.add_argument("--as-of", help="an ISO-8601 instant with offset")
        once.set_defaults(run=_one_job(name))

    ledger = commands.add_parser("ledger", help="ledger operations")
    ledger_commands = ledger.add_subparsers(dest="ledger_command", required=True)
    verify = ledger_commands.add_parser(
        "verify", help="rebuild balances from the ledger, report drift"
    )
    verify.add_argument("--member", help="only this member id")
    verify.set_defaults(run=cmd_verify)

    outbox = commands.add_parser("outbox", help="push/webhook deliveries: list, retry dead ones")
    outbox.add_argument(
        "--status",
        default="dead",
        choices=["pending", "delivering", "delivered", "dead"],
        help="list the deliveries in this state (default: dead)",
    )
    outbox.add_argument("--retry", metavar="ID", help="retry this dead-lettered delivery")
    outbox.set_defaults(run=cmd_outbox)

    add_program_commands(commands, open_database)
    add_points_commands(commands, open_database)
    add_import_commands(commands, open_database)
    add_report_commands(commands, open_database)
    add_clock_commands(commands, open_database)
    add_messages_commands(commands, open_database)
    add_backup_commands(commands, open_database)
    add_webhook_commands(commands, open_database)

    export = commands.add_parser("export-schema", help="write the served GraphQL SDL")
    export.add_argument(
        "--output", default="graphql_schema/schema.graphql", help="a file, or - for stdout"
    )
    export.set_defaults(run=cmd_export_schema)

    for command in commands.choices.values():  # `jifen serve --data-dir DIR` works too
        command.add_argument(
            "--data-dir", type=Path, metavar="DIR", default=argparse.SUPPRESS, help=DATA_DIR_HELP
        )
    group_by_task(parser, commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(**({"data_dir": args.data_dir} if args.data_dir else {}))
    except ConfigurationError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(settings.log_level, json_lines=settings.json_logs)
    try:
        result: int = args.run(settings, args)
    except (EmbeddedNotInstalled, DataFolderMissing, DataFolderUnusable) as exc:
        print(exc, file=sys.stderr)
        return 2
    return result
