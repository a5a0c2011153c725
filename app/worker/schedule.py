"""The worker's jobs: mature, release expired holds, expire, warn, review tiers, run operators'
bulk points jobs and uploaded imports, finish erasures cut off half-way, roll the ledger up by
hour for reports, deliver the outbox and the webhooks, route and send members' messages."""

from __future__ import annotations

import contextlib
import logging
import secrets
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from app import messaging, webhooks
from app.backup import take_scheduled_backup
from app.channels import (
    PushPlatform,
    PushProvider,
    SmsProvider,
    build_push_providers,
    build_sms_provider,
    configured_mailer,
)
from app.clock import Clock
from app.config import Environment, Settings, data_folder_database
from app.corrections import run_due_jobs
from app.db import Mongo
from app.importer import run_due_import
from app.ledger import expire_due, mature_due, release_expired_holds
from app.members import review_tiers
from app.messaging import Links, PushGateway, Transports, route_new, unsubscribe_key
from app.notifications import GatewayResponse, dispatch_due, issue_expiry_warnings
from app.privacy import finish_erasures
from app.program import ProgramNotConfigured, get_program
from app.referrals import settle_referrals
from app.reports import caught_up as rollup_caught_up
from app.reports import keep_activity, keep_last_month, roll_up_ledger
from app.rewards import release_unpaid
from app.webhooks import DeliveryPolicy, fan_out, purge, webhook_client
from app.worker.loop import Job, JobOutcome, JobRun, worker_id

log = logging.getLogger(__name__)

BATCHES_PER_PASS = 5
BATCH = 100  # unpaid points + cash redemptions released per pass
POINTS_JOB_MEMBERS = 500  # members of a bulk job per pass


async def referrals(mongo: Mongo, clock: Clock) -> JobOutcome:
    """Reward (or cancel) the referrals whose qualifying purchase has matured."""
    try:
        program = await get_program(mongo)
    except ProgramNotConfigured:
        return JobOutcome(0)
    run = await settle_referrals(mongo, clock, program)
    return JobOutcome(run.settled, more=not run.done)


async def mature(mongo: Mongo, clock: Clock) -> JobOutcome:
    run = await mature_due(mongo, clock, max_batches=BATCHES_PER_PASS)
    return JobOutcome(run.lots, more=not run.done)


async def unpaid_redemptions(mongo: Mongo, clock: Clock) -> JobOutcome:
    released = await release_unpaid(mongo, clock, batch=BATCH)
    return JobOutcome(released, more=released == BATCH)


async def release_holds(mongo: Mongo, clock: Clock) -> JobOutcome:
    run = await release_expired_holds(mongo, clock, max_batches=BATCHES_PER_PASS)
    return JobOutcome(run.holds, more=not run.done)


async def expire(mongo: Mongo, clock: Clock) -> JobOutcome:
    run = await expire_due(mongo, clock, max_batches=BATCHES_PER_PASS)
    return JobOutcome(run.lots, more=not run.done)


async def warn(mongo: Mongo, clock: Clock) -> JobOutcome:
    try:
        program = await get_program(mongo)
    except ProgramNotConfigured:
        return JobOutcome(0)
    return JobOutcome(await issue_expiry_warnings(mongo, clock, leads=program.warning_lead_days))


async def tiers(mongo: Mongo, clock: Clock) -> JobOutcome:
    """Move down the members whose qualifying points no longer hold their tier."""
    try:
        program = await get_program(mongo)
    except ProgramNotConfigured:
        return JobOutcome(0)
    run = await review_tiers(mongo, program, clock.now())
    return JobOutcome(len(run.changes), more=not run.done)


def points_jobs(owner: str) -> JobRun:
    """Bulk 清零 and extensions operators made (app.corrections): a bounded pass of the oldest job."""

    async def run(mongo: Mongo, clock: Clock) -> JobOutcome:
        handled = await run_due_jobs(mongo, clock, owner=owner, limit=POINTS_JOB_MEMBERS)
        return JobOutcome(handled, more=handled >= POINTS_JOB_MEMBERS)

    return run


def imports(owner: str) -> JobRun:
    """Imports operators uploaded (startImport): the oldest due one, to its end."""

    async def run(mongo: Mongo, clock: Clock) -> JobOutcome:
        job = await run_due_import(mongo, clock, owner=owner)
        return JobOutcome(0 if job is None else 1, more=job is not None)

    return run


async def erasures(mongo: Mongo, clock: Clock) -> JobOutcome:
    """Finish the erasures whose request was cut off before every copy was redacted."""
    finished, more = await finish_erasures(mongo, clock)
    return JobOutcome(finished, more=more)


async def rollup(mongo: Mongo, clock: Clock) -> JobOutcome:
    """Add the entries recorded since the last run to the reports' hourly buckets, and the
    accounts changed since to the member activity tally; once caught up, have the last closed
    month's top earners counted (kept until an entry joins the month)."""
    added = await roll_up_ledger(mongo, clock, max_slices=ROLLUP_SLICES)
    await keep_activity(mongo, clock)
    more = not await rollup_caught_up(mongo, clock)
    if not more:
        with contextlib.suppress(ProgramNotConfigured):
            await keep_last_month(mongo, clock)
    return JobOutcome(added, more=more)


ROLLUP_SLICES = 4  # a run of the job: at most 200,000 entries, then again at once


def push_secret(settings: Settings) -> bytes:
    """The configured HMAC key, or one generated once into the data folder (never in the repo)."""
    if settings.push_signing_secret:
        return settings.push_signing_secret.encode()
    path: Path = settings.data_dir / "keys" / "push-signing-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip().encode()


def outbox_job(settings: Settings, client: httpx.AsyncClient) -> Job:
    assert settings.push_gateway_url is not None
    url, secret = settings.push_gateway_url, push_secret(settings)

    async def post(target: str, body: bytes, headers: dict[str, str]) -> GatewayResponse:
        response = await client.post(target, content=body, headers=headers)
        return GatewayResponse(response.status_code, response.text)

    async def deliver(mongo: Mongo, clock: Clock) -> JobOutcome:
        limit = 100
        attempted = await dispatch_due(mongo, clock, url=url, secret=secret, post=post, limit=limit)
        return JobOutcome(attempted, more=attempted == limit)

    return Job("outbox", deliver, timedelta(seconds=5))


def webhook_policy(settings: Settings) -> DeliveryPolicy:
    return DeliveryPolicy(
        retry_for=timedelta(hours=settings.webhook_retry_hours),
        first_backoff=timedelta(seconds=settings.webhook_first_backoff_seconds),
        pause_after=timedelta(minutes=settings.webhook_pause_after_minutes),
        claim_for=timedelta(seconds=settings.webhook_claim_seconds),
        timeout=timedelta(seconds=settings.webhook_timeout_seconds),
    )


def webhook_client_for(settings: Settings) -> httpx.AsyncClient:
    """The client webhooks go through: each connection to an address checked public, except
    outside production, where endpoints on this machine are allowed (app/webhooks/addresses.py)."""
    return webhook_client(allow_private=settings.env is not Environment.PRODUCTION)


def webhooks_job(settings: Settings, client: httpx.AsyncClient) -> Job:
    """Fan the event log out to the endpoints, then send what is due (app/webhooks) through
    `client`, which is `webhook_client_for(settings)`'s; one indexed read each when there is nothing
    to do."""
    policy = webhook_policy(settings)
    purged_at: list[datetime] = []  # this process's last purge

    async def run(mongo: Mongo, clock: Clock) -> JobOutcome:
        fanned, more = await fan_out(mongo, clock, policy)
        sent = await webhooks.deliver_due(mongo, clock, client, policy)
        idle = not more and not sent
        if idle and (not purged_at or clock.now() - purged_at[-1] >= timedelta(hours=1)):
            await purge(mongo, clock)  # what is past replay's range, hourly
            purged_at[:] = [clock.now()]
        return JobOutcome(fanned + sent, more=more or sent == policy.deliver_batch)

    return Job("webhooks", run, timedelta(seconds=settings.webhook_interval_seconds))


def messages_job(settings: Settings, client: httpx.AsyncClient) -> Job:
    """Route new notifications to members' channels and send what is due (app/messaging); a
    channel with no provider configured delivers to the dev inbox."""
    push = None
    if settings.push_gateway_url:
        secret = push_secret(settings)

        async def post(target: str, body: bytes, headers: dict[str, str]) -> GatewayResponse:
            response = await client.post(target, content=body, headers=headers)
            return GatewayResponse(response.status_code, response.text)

        push = PushGateway(settings.push_gateway_url, secret, post)
    providers: dict[int, SmsProvider | None] = {}  # per clock: the adapters sign with its time
    direct_push: dict[int, dict[PushPlatform, PushProvider]] = {}  # per clock, as the SMS ones
    inbox = [
        channel
        for channel, configured in (
            (
                "push",
                settings.push_gateway_url
                or settings.apns_key_file
                or settings.fcm_service_account_file,
            ),
            ("sms", settings.sms_sign_name if settings.sms_provider.value != "none" else None),
            ("email", settings.smtp_host),
        )
        if not configured
    ]
    if inbox:
        log.info("messages by %s go to the dev inbox (no provider configured)", ", ".join(inbox))

    async def run(mongo: Mongo, clock: Clock) -> JobOutcome:
        if id(clock) not in providers:
            providers[id(clock)] = build_sms_provider(settings, clock=clock, client=client)
            direct_push[id(clock)] = build_push_providers(settings, clock=clock)
        transports = Transports(
            push=push,
            direct_push=direct_push[id(clock)],
            sms=providers[id(clock)],
            sms_sign_name=settings.sms_sign_name,
            mailer=configured_mailer(settings, clock),
        )
        links = Links(await unsubscribe_key(mongo, settings), settings.public_url)
        limit = 100
        routed = await route_new(mongo, clock, links, limit=limit)
        sent = await messaging.deliver_due(mongo, clock, transports, limit=limit)
        return JobOutcome(routed + sent, more=routed == limit or sent == limit)

    return Job("messages", run, timedelta(seconds=5))


def on_embedded(settings: Settings) -> bool:
    """The database is the data folder's own SecantusDB: no URL, or the one `serve` started
    there and handed its children (it sets JIFEN_MONGODB_URL to it)."""
    if settings.mongodb_url is None:
        return True
    return settings.mongodb_url == data_folder_database(settings).running_url()


def backup_job(settings: Settings, every: timedelta) -> Job | None:
    """The embedded database's scheduled backup (app/backup/scheduled.py), looked for at each
    tick; None when off or on a MongoDB URL (there mongodump does it, docs/operations.md)."""
    if settings.backup_every_hours == 0 or not on_embedded(settings):
        return None
    folder = settings.data_dir / "backups"
    interval = timedelta(hours=settings.backup_every_hours)

    async def run(mongo: Mongo, clock: Clock) -> JobOutcome:
        taken = await take_scheduled_backup(
            mongo, clock, folder, every=interval, keep=settings.backup_keep
        )
        return JobOutcome(0 if taken is None else 1)

    return Job("backup", run, every)


def default_jobs(
    settings: Settings, client: httpx.AsyncClient, hooks_client: httpx.AsyncClient
) -> list[Job]:
    """Every job, the HTTP ones through `client` (the push gateway, SMS, direct push) and the
    webhooks through `hooks_client` (`webhook_client_for`)."""
    every = timedelta(seconds=settings.worker_interval_seconds)
    jobs = [
        Job("mature", mature, every),
        Job("release-holds", release_holds, every),
        Job("unpaid-redemptions", unpaid_redemptions, every),
        Job("expire", expire, every),
        Job("warn", warn, every),
        Job("tiers", tiers, every),
        Job("referrals", referrals, every),
        Job("points-jobs", points_jobs(worker_id()), every),
        # an operator waits on an upload: looked for every 2 s (one indexed read when none)
        Job("imports", imports(worker_id()), min(every, timedelta(seconds=2))),
        Job("erasures", erasures, every),
        Job("ledger-rollup", rollup, every),
    ]
    if settings.push_gateway_url:
        jobs.append(outbox_job(settings, client))
    jobs.append(webhooks_job(settings, hooks_client))
    jobs.append(messages_job(settings, client))
    backup = backup_job(settings, every)
    if backup is not None:
        jobs.append(backup)
    return jobs
