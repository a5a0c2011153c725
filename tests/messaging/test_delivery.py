"""Messages reach members over real sockets: push through a local gateway, SMS through the fake
Dysmsapi of tests/channels, e-mail through a local aiosmtpd relay, the unsubscribe link through
the served app; quiet hours and caps on the injected clock; a worker process killed mid-delivery."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage as MimeMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from app.channels import AliyunSms
from app.clock import FrozenClock
from app.config import Settings
from app.db import Document, Mongo
from app.ledger import Rolling, earn
from app.members import create_member
from app.messaging import (
    Channel,
    EventKind,
    Links,
    MessagingPolicy,
    OptOut,
    PushGateway,
    SendPolicy,
    TransactionalNeedsAChannel,
    Transports,
    announce,
    deliver_due,
    retry_message,
    route_new,
    set_policy,
    unsubscribe_key,
    update_preferences,
)
from app.notifications import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    GatewayResponse,
    PushPlatform,
    issue_expiry_warnings,
    register_push_token,
    set_notification_consent,
)
from app.notifications.outbox import enqueue, verify_signature
from tests.channels.fake_aliyun import KEY_ID, SECRET, SIGN, FakeDysmsapi
from tests.channels.fake_provider import Answer, Request
from tests.channels.test_email import mailer, relay

ROOT = Path(__file__).resolve().parents[2]
PUSH_SECRET = b"messaging-test-gateway-secret-of-32-bytes"
LINKS = Links(b"k" * 32, "http://127.0.0.1")
_keys = itertools.count()


class Gateway:
    """The brand's push gateway: checks the signature, keeps one delivery per Idempotency-Key;
    with `hold`, it keeps the first request's answer until `release` is set."""

    def __init__(self, clock: FrozenClock, *, hold: bool = False) -> None:
        self.requests: list[dict[str, str]] = []
        self.processed: dict[str, dict] = {}
        self.accepted, self.release = threading.Event(), threading.Event()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                gateway.requests.append(dict(self.headers))
                if not verify_signature(
                    PUSH_SECRET, self.headers[SIGNATURE_HEADER], body, clock.now()
                ):
                    self.send_response(401)
                    self.end_headers()
                    return
                gateway.processed.setdefault(self.headers[IDEMPOTENCY_HEADER], json.loads(body))
                if hold and len(gateway.requests) == 1:
                    gateway.accepted.set()
                    gateway.release.wait(timeout=60)
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/push"

    @property
    def push(self) -> PushGateway:
        return PushGateway(self.url, PUSH_SECRET, post)


@pytest.fixture
def gateway(clock: FrozenClock) -> Iterator[Gateway]:
    server = Gateway(clock)
    threading.Thread(target=server.httpd.serve_forever, daemon=True).start()
    yield server
    server.httpd.shutdown()


async def post(url: str, body: bytes, headers: dict[str, str]) -> GatewayResponse:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.post(url, content=body, headers=headers)
    return GatewayResponse(response.status_code, response.text)


class HoldingDysmsapi(FakeDysmsapi):
    """Accepts the first message (it is in `sent`), then keeps its answer until `release`."""

    def __init__(self, clock: FrozenClock) -> None:
        super().__init__(clock)
        self.accepted, self.release = threading.Event(), threading.Event()

    def answer(self, request: Request) -> Answer:
        answer = super().answer(request)
        if len(self.sent) == 1 and not self.accepted.is_set():
            self.accepted.set()
            self.release.wait(timeout=60)
        return answer


def sms_transports(fake: FakeDysmsapi, http: httpx.AsyncClient, clock: FrozenClock) -> Transports:
    sms = AliyunSms(
        access_key_id=KEY_ID, access_key_secret=SECRET, clock=clock, endpoint=fake.url, client=http
    )
    return Transports(sms=sms, sms_sign_name=SIGN)


async def new_member(
    mongo: Mongo,
    clock: FrozenClock,
    *,
    phone: str | None = None,
    email: str | None = None,
    device: str | None = None,
) -> str:
    member = await create_member(
        mongo, clock, name="王小明", tier="member", phone=phone, email=email
    )
    if device is not None:
        await register_push_token(mongo, clock, member.id, PushPlatform.IOS, device)
        await set_notification_consent(mongo, clock, member.id, True)
    return member.id


async def warn(mongo: Mongo, clock: FrozenClock, member_id: str, points: int, days: int) -> None:
    """Points that expire in `days`: the worker's warn job writes the warning, then routes it."""
    await earn(
        mongo,
        clock,
        member_id=member_id,
        points=points,
        idempotency_key=f"earn-{next(_keys)}",
        policy=Rolling(days=days),
    )
    await issue_expiry_warnings(mongo, clock)
    await route_new(mongo, clock, LINKS)


async def records(mongo: Mongo, member_id: str) -> dict[str, Document]:
    return {d["channel"]: d async for d in mongo["messages"].find({"member_id": member_id})}


async def test_a_warning_reaches_a_member_with_a_device_by_push(
    mongo: Mongo, clock: FrozenClock, program: None, gateway: Gateway
) -> None:
    member_id = await new_member(mongo, clock, phone="+8613800138000", device="apns-token-0001")
    await warn(mongo, clock, member_id, 1200, days=3)
    assert await deliver_due(mongo, clock, Transports(push=gateway.push)) == 1
    [(key, body)] = gateway.processed.items()
    assert body["data"]["devices"] == [{"platform": "ios", "token": "apns-token-0001"}]
    assert "1,200 积分" in body["data"]["body"] and body["data"]["type"] == "expiry_warning"
    sent = await records(mongo, member_id)
    assert set(sent) == {"push", "email"}  # push chosen, so no SMS; no e-mail address
    assert (sent["push"]["_id"], sent["push"]["status"]) == (key, "sent")
    assert (sent["email"]["status"], sent["email"]["reason"]) == ("suppressed", "no_address")
    # routed and delivered again: nothing more, whatever the retries
    await route_new(mongo, clock, LINKS)
    assert await deliver_due(mongo, clock, Transports(push=gateway.push)) == 0
    assert len(gateway.requests) == 1


async def test_a_member_without_a_device_gets_the_warning_by_sms(
    mongo: Mongo, clock: FrozenClock, program: None, sms_fake: FakeDysmsapi, http
) -> None:
    member_id = await new_member(mongo, clock, phone="+8613800138000")
    await warn(mongo, clock, member_id, 1200, days=3)
    assert await deliver_due(mongo, clock, sms_transports(sms_fake, http, clock)) == 1
    [params] = sms_fake.sent
    assert params["PhoneNumbers"] == "13800138000" and params["TemplateCode"] == "SMS_100001"
    assert json.loads(params["TemplateParam"]) == {"name": "王小明", "points": "1200"}
    sent = await records(mongo, member_id)
    assert (sent["push"]["status"], sent["push"]["reason"]) == ("suppressed", "consent")
    assert sent["sms"]["status"] == "sent" and sent["sms"]["provider_id"].startswith("9006")
    assert (
        sent["sms"]["text"].startswith("王小明，您有 1200 积分") and sent["sms"]["sms_parts"] == 1
    )


async def test_an_sms_waits_for_the_end_of_the_quiet_hours(
    mongo: Mongo, clock: FrozenClock, program: None, sms_fake: FakeDysmsapi, http
) -> None:
    clock.set(datetime(2026, 1, 15, 14, 0, tzinfo=UTC))  # 22:00 in Shanghai
    member_id = await new_member(mongo, clock, phone="+8613800138000")
    await warn(mongo, clock, member_id, 500, days=3)
    transports = sms_transports(sms_fake, http, clock)
    assert await deliver_due(mongo, clock, transports) == 0
    queued = (await records(mongo, member_id))["sms"]
    morning = datetime(2026, 1, 16, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    assert (queued["status"], queued["reason"], queued["due_at"]) == (
        "queued",
        "quiet_hours",
        morning,
    )
    clock.set(morning - timedelta(seconds=1))
    assert await deliver_due(mongo, clock, transports) == 0 and sms_fake.sent == []
    clock.set(morning)
    assert await deliver_due(mongo, clock, transports) == 1
    assert len(sms_fake.sent) == 1
    assert (await records(mongo, member_id))["sms"]["status"] == "sent"


async def test_an_opt_out_suppresses_the_sms_and_a_transactional_kind_keeps_one_channel(
    mongo: Mongo, clock: FrozenClock, program: None, sms_fake: FakeDysmsapi, http
) -> None:
    member_id = await new_member(mongo, clock, phone="+8613800138000")
    await update_preferences(
        mongo, clock, member_id, opt_outs=[OptOut(Channel.SMS, EventKind.EXPIRY_WARNING)]
    )
    await warn(mongo, clock, member_id, 500, days=3)
    assert await deliver_due(mongo, clock, sms_transports(sms_fake, http, clock)) == 0
    assert sms_fake.requests == []
    sms = (await records(mongo, member_id))["sms"]
    assert (sms["status"], sms["reason"]) == ("suppressed", "opt_out")
    every = [OptOut(channel, EventKind.TIER_CHANGED) for channel in Channel]
    with pytest.raises(TransactionalNeedsAChannel):
        await update_preferences(mongo, clock, member_id, opt_outs=every)


async def test_the_daily_cap_suppresses_the_second_sms_of_the_day(
    mongo: Mongo, clock: FrozenClock, program: None, sms_fake: FakeDysmsapi, http
) -> None:
    await set_policy(mongo, MessagingPolicy(daily_caps={Channel.SMS: 1}))
    member_id = await new_member(mongo, clock, phone="+8613800138000")
    await warn(mongo, clock, member_id, 500, days=3)
    await warn(mongo, clock, member_id, 300, days=5)  # another instant: a second warning
    assert await deliver_due(mongo, clock, sms_transports(sms_fake, http, clock)) == 2
    assert len(sms_fake.sent) == 1
    statuses = [
        (d["status"], d.get("reason"))
        async for d in mongo["messages"].find({"member_id": member_id, "channel": "sms"})
    ]
    assert sorted(statuses) == [("sent", None), ("suppressed", "cap")]


async def test_without_providers_every_message_goes_to_the_dev_inbox(
    mongo: Mongo, clock: FrozenClock, program: None
) -> None:
    member_id = await new_member(
        mongo, clock, phone="+8613800138000", email="wang@example.com", device="apns-token-0002"
    )
    await warn(mongo, clock, member_id, 1200, days=3)
    assert await deliver_due(mongo, clock, Transports()) == 2
    inbox = await records(mongo, member_id)
    assert {c: (d["status"], d["transport"]) for c, d in inbox.items()} == {
        "push": ("sent", "dev-inbox"),
        "email": ("sent", "dev-inbox"),
    }
    assert inbox["email"]["subject"] == "积分即将过期" and "1,200 积分" in inbox["email"]["text"]


async def _kill_mid_delivery(
    mongo_url: str, db_name: str, clock: FrozenClock, accepted: threading.Event, **options: str
) -> None:
    """Run one sender pass in a process of its own; kill it once the provider has accepted."""
    arguments = {"mongo_url": mongo_url, "db_name": db_name, "now": clock.now().isoformat()}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.messaging.killed_worker",
        json.dumps({**arguments, **options}),
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert await asyncio.to_thread(accepted.wait, 60), "the worker never reached the provider"
    finally:
        process.kill()
        await process.wait()


async def test_a_push_is_sent_once_though_the_worker_is_killed_mid_delivery(
    mongo: Mongo, mongo_url: str, db_name: str, clock: FrozenClock, program: None
) -> None:
    gateway = Gateway(clock, hold=True)
    threading.Thread(target=gateway.httpd.serve_forever, daemon=True).start()
    try:
        member_id = await new_member(mongo, clock, device="apns-token-0003")
        await warn(mongo, clock, member_id, 800, days=3)
        await _kill_mid_delivery(
            mongo_url,
            db_name,
            clock,
            gateway.accepted,
            push_url=gateway.url,
            push_secret=PUSH_SECRET.decode(),
        )
        gateway.release.set()
        push = (await records(mongo, member_id))["push"]
        assert push["status"] == "sending" and push["handed_at"] is not None
        transports = Transports(push=gateway.push)
        assert await deliver_due(mongo, clock, transports) == 0  # the claim holds until it lapses
        clock.advance(SendPolicy().claim_for)
        assert await deliver_due(mongo, clock, transports) == 1
        # sent again with the same key: the gateway keeps one
        assert [r[IDEMPOTENCY_HEADER] for r in gateway.requests] == [push["_id"]] * 2
        assert list(gateway.processed) == [push["_id"]]
        assert (await records(mongo, member_id))["push"]["status"] == "sent"
    finally:
        gateway.release.set()
        gateway.httpd.shutdown()


async def test_an_sms_is_not_sent_twice_though_the_worker_is_killed_mid_delivery(
    mongo: Mongo, mongo_url: str, db_name: str, clock: FrozenClock, program: None, http
) -> None:
    fake = HoldingDysmsapi(clock)
    with fake.running():
        member_id = await new_member(mongo, clock, phone="+8613800138000")
        await warn(mongo, clock, member_id, 800, days=3)
        await _kill_mid_delivery(mongo_url, db_name, clock, fake.accepted, sms_url=fake.url)
        fake.release.set()
        clock.advance(SendPolicy().claim_for)
        transports = sms_transports(fake, http, clock)
        assert await deliver_due(mongo, clock, transports) == 0
        sms = (await records(mongo, member_id))["sms"]
        # the provider accepted it; whether it did is unknown here: a dead letter, not a resend
        assert (sms["status"], sms["reason"]) == ("failed", "outcome_unknown")
        assert len(fake.sent) == 1
        retried = await retry_message(mongo, clock, sms["_id"])  # an operator's decision
        assert (retried.status, retried.attempts) == ("queued", 0)


async def test_a_marketing_email_arrives_and_its_unsubscribe_link_works(
    mongo: Mongo, clock: FrozenClock, program: None, settings: Settings, served: str
) -> None:
    links = Links(await unsubscribe_key(mongo, settings), served)
    member_id = await new_member(mongo, clock, email="wang@example.com")
    await update_preferences(mongo, clock, member_id, marketing_consent=True)
    await announce(
        mongo, clock, [member_id], campaign_id="c1", title="双倍积分周", body="本周双倍积分"
    )
    await route_new(mongo, clock, links)
    async with relay() as smtp:
        transports = Transports(mailer=mailer(smtp.port, clock=clock))
        assert await deliver_due(mongo, clock, transports) == 1
        [received] = smtp.recorder.received
    message: MimeMessage = received.message
    assert message["Subject"] == "双倍积分周"
    link = message["List-Unsubscribe"].strip("<>")
    assert link.startswith(f"{served}/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = message.get_body(("plain",))
    assert text is not None and link in text.get_content()

    async with httpx.AsyncClient() as client:
        page = await client.get(link)
        assert page.status_code == 200 and '<form method="post">' in page.text
        assert (await records(mongo, member_id))["email"][
            "status"
        ] == "sent"  # a GET changes nothing
        done = await client.post(link, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200 and "Unsubscribed" in done.text
        forged = await client.post(link[:-3] + "AAA")
        assert forged.status_code == 404

    await announce(mongo, clock, [member_id], campaign_id="c2", title="再来一次", body="还是双倍")
    await route_new(mongo, clock, links)
    second = [
        (d["status"], d.get("reason"))
        async for d in mongo["messages"].find({"member_id": member_id, "channel": "email"})
    ]
    assert sorted(second) == [("sent", None), ("suppressed", "opt_out")]


async def test_a_transient_sms_failure_is_retried_after_a_backoff(
    mongo: Mongo, clock: FrozenClock, program: None, sms_fake: FakeDysmsapi, http
) -> None:
    member_id = await new_member(mongo, clock, phone="+8613800138000")
    await warn(mongo, clock, member_id, 500, days=3)
    sms_fake.scripted["13800138000"] = "isp.SYSTEM_ERROR"
    transports = sms_transports(sms_fake, http, clock)
    assert await deliver_due(mongo, clock, transports) == 1
    waiting = (await records(mongo, member_id))["sms"]
    assert (waiting["status"], waiting["error_code"], waiting["attempts"]) == (
        "queued",
        "isp.SYSTEM_ERROR",
        1,
    )
    assert waiting["due_at"] == clock.now() + SendPolicy().first_backoff
    del sms_fake.scripted["13800138000"]
    assert await deliver_due(mongo, clock, transports) == 0  # not due yet
    clock.advance(SendPolicy().first_backoff)
    assert await deliver_due(mongo, clock, transports) == 1
    done = (await records(mongo, member_id))["sms"]
    assert (done["status"], done["attempts"], len(sms_fake.sent)) == ("sent", 2, 1)


async def test_an_invalid_number_is_not_used_again(
    mongo: Mongo, clock: FrozenClock, program: None, sms_fake: FakeDysmsapi, http
) -> None:
    member_id = await new_member(mongo, clock, phone="+8613800138000")
    sms_fake.scripted["13800138000"] = "isv.MOBILE_NUMBER_ILLEGAL"
    await warn(mongo, clock, member_id, 500, days=3)
    transports = sms_transports(sms_fake, http, clock)
    assert await deliver_due(mongo, clock, transports) == 1
    failed = (await records(mongo, member_id))["sms"]
    assert (failed["status"], failed["reason"]) == ("failed", "unusable")
    await warn(mongo, clock, member_id, 300, days=5)  # the next warning skips the number
    reasons = [
        (d["status"], d.get("reason"))
        async for d in mongo["messages"].find({"member_id": member_id, "channel": "sms"})
    ]
    assert sorted(reasons) == [("failed", "unusable"), ("suppressed", "unusable")]
    assert len(sms_fake.requests) == 1


async def test_a_device_the_gateway_no_longer_knows_is_unregistered(
    mongo: Mongo, clock: FrozenClock, program: None
) -> None:
    member_id = await new_member(mongo, clock, device="apns-token-gone1")

    async def gone(url: str, body: bytes, headers: dict[str, str]) -> GatewayResponse:
        return GatewayResponse(410, "unregistered")

    await warn(mongo, clock, member_id, 500, days=3)
    transports = Transports(push=PushGateway("http://127.0.0.1:9/push", PUSH_SECRET, gone))
    assert await deliver_due(mongo, clock, transports) == 1
    push = (await records(mongo, member_id))["push"]
    assert (push["status"], push["reason"], push["error_code"]) == ("failed", "unusable", "410")
    member = await mongo["members"].find_one({"_id": member_id})
    assert member is not None and member["push_tokens"] == []


async def test_a_notification_the_outbox_already_pushed_is_not_sent_again(
    mongo: Mongo, clock: FrozenClock, program: None
) -> None:
    """Before this routing, warnings enqueued their own push under their dedupe_key."""
    member_id = await new_member(mongo, clock, device="apns-token-old01")
    await earn(
        mongo, clock, member_id=member_id, points=100, idempotency_key="old", policy=Rolling(days=3)
    )
    await issue_expiry_warnings(mongo, clock)
    old = await mongo["notifications"].find_one({"member_id": member_id})
    assert old is not None
    await enqueue(
        mongo,
        clock,
        kind="push",
        idempotency_key=old["dedupe_key"],
        member_id=member_id,
        payload={"type": "expiry_warning"},
    )
    assert await route_new(mongo, clock, LINKS) == 1  # looked at, marked, nothing sent
    assert await mongo["messages"].count_documents({}) == 0
    await warn(mongo, clock, member_id, 200, days=5)  # a new warning is routed
    assert set(await records(mongo, member_id)) == {"push", "email"}
