"""Direct push through APNs and FCM, against local HTTP/2 services that check what Apple and
Google check (tests/channels/fake_push.py), over TLS on real sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.channels import (
    ApnsPush,
    FcmPush,
    Outcome,
    PushMessage,
    PushPlatform,
    PushRefused,
    ServiceAccount,
    build_push_providers,
)
from app.clock import FrozenClock
from app.config import ConfigurationError, load_settings
from tests.channels.fake_push import FakeApns, FakeFcm, Forced, fcm_error, served_h2
from tests.channels.tls import Certificate

IPHONE = "a" * 64
OLD_IPHONE = "b" * 64
PIXEL = "fcm-token_" + "x" * 140
OLD_PIXEL = "fcm-token_" + "y" * 140
TEAM, KEY_ID, TOPIC = "TEAM123456", "KEY1234567", "com.brand.points"


def pem(private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> tuple[str, str]:
    secret = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return secret.decode(), public.decode()


APNS_KEY, APNS_PUBLIC = pem(ec.generate_private_key(ec.SECP256R1()))
FCM_KEY, FCM_PUBLIC = pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def warning(platform: PushPlatform, token: str, **changes: object) -> PushMessage:
    fields: dict[str, object] = {
        "platform": platform,
        "device_token": token,
        "title": "积分即将过期",
        "body": "您有 1,200 积分将于 2027-01-31 过期",
        "data": {"kind": "expiry_warning", "points": "1200"},
        "collapse_key": "expiry",
    }
    return PushMessage(**(fields | changes))  # type: ignore[arg-type]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))


def trusting(certificate: Certificate) -> httpx.AsyncClient:
    """A client that trusts the local services' certificate; closed before they stop (they wait
    for their connections to end)."""
    return httpx.AsyncClient(http2=True, verify=certificate.client_context())


@dataclass
class Apns:
    fake: FakeApns
    push: ApnsPush
    url: str
    client: httpx.AsyncClient


@pytest.fixture
async def apns(clock: FrozenClock, certificate: Certificate) -> AsyncIterator[Apns]:
    fake = FakeApns(APNS_PUBLIC, KEY_ID, TEAM, TOPIC, clock, {IPHONE}, {OLD_IPHONE})
    async with served_h2(fake.app(), certificate) as url, trusting(certificate) as client:
        push = ApnsPush(
            team_id=TEAM,
            key_id=KEY_ID,
            private_key=APNS_KEY,
            topic=TOPIC,
            clock=clock,
            endpoint=url,
            client=client,
            timeout=2,
        )
        yield Apns(fake, push, url, client)


@dataclass
class Fcm:
    fake: FakeFcm
    push: FcmPush
    url: str
    client: httpx.AsyncClient


@pytest.fixture
async def fcm(clock: FrozenClock, certificate: Certificate) -> AsyncIterator[Fcm]:
    fake = FakeFcm(FCM_PUBLIC, "push@brand.iam.gserviceaccount.com", "brand-points", clock)
    fake.registered.add(PIXEL)
    fake.unregistered.add(OLD_PIXEL)
    async with served_h2(fake.app(), certificate) as url, trusting(certificate) as client:
        fake.token_uri = f"{url}/token"
        account = ServiceAccount(fake.client_email, FCM_KEY, fake.token_uri)
        push = FcmPush(
            project_id="brand-points",
            account=account,
            clock=clock,
            endpoint=url,
            client=client,
            timeout=2,
        )
        yield Fcm(fake, push, url, client)


async def test_apns_delivers_over_http2_with_a_provider_token_apple_accepts(apns: Apns) -> None:
    delivery = await apns.push.send(warning(PushPlatform.APNS, IPHONE))
    assert delivery.outcome is Outcome.SENT and delivery.provider_id
    (seen,) = apns.fake.seen
    assert seen.http_version == "2"
    assert seen.path == f"/3/device/{IPHONE}"
    assert seen.headers["apns-collapse-id"] == "expiry"
    payload = json.loads(seen.body)
    assert payload["aps"]["alert"] == {
        "title": "积分即将过期",
        "body": "您有 1,200 积分将于 2027-01-31 过期",
    }
    assert payload["kind"] == "expiry_warning"


async def test_apns_reuses_its_provider_token_and_renews_it_before_the_hour(
    apns: Apns, clock: FrozenClock
) -> None:
    for _ in range(3):
        assert (await apns.push.send(warning(PushPlatform.APNS, IPHONE))).outcome is Outcome.SENT
    tokens = {seen.headers["authorization"] for seen in apns.fake.seen}
    assert len(tokens) == 1
    clock.advance(timedelta(minutes=55))  # past the renewal, inside Apple's hour
    assert (await apns.push.send(warning(PushPlatform.APNS, IPHONE))).outcome is Outcome.SENT
    assert apns.fake.seen[-1].headers["authorization"] not in tokens


async def test_an_unregistered_or_bad_device_token_is_an_invalid_recipient(apns: Apns) -> None:
    gone = await apns.push.send(warning(PushPlatform.APNS, OLD_IPHONE))
    assert (gone.outcome, gone.error_code) == (Outcome.INVALID_RECIPIENT, "Unregistered")
    unknown = await apns.push.send(warning(PushPlatform.APNS, "c" * 64))
    assert (unknown.outcome, unknown.error_code) == (Outcome.INVALID_RECIPIENT, "BadDeviceToken")


async def test_a_wrong_key_or_topic_fails_the_message(apns: Apns, clock: FrozenClock) -> None:
    other_key, _ = pem(ec.generate_private_key(ec.SECP256R1()))
    url, client = apns.url, apns.client
    for options in ({"private_key": other_key}, {"topic": "com.other.app"}):
        settings = {"team_id": TEAM, "key_id": KEY_ID, "private_key": APNS_KEY, "topic": TOPIC}
        push = ApnsPush(**(settings | options), clock=clock, endpoint=url, client=client)
        delivery = await push.send(warning(PushPlatform.APNS, IPHONE))
        assert delivery.outcome is Outcome.FAILED
        assert delivery.error_code in {"InvalidProviderToken", "TopicDisallowed"}


async def test_apns_rate_limits_and_outages_are_retried_later(apns: Apns) -> None:
    apns.fake.forced.append(Forced(429, {"reason": "TooManyRequests"}))
    apns.fake.forced.append(
        Forced(503, {"reason": "ServiceUnavailable"}, headers={"retry-after": "30"})
    )
    limited = await apns.push.send(warning(PushPlatform.APNS, IPHONE))
    assert (limited.outcome, limited.error_code) == (Outcome.RETRY, "TooManyRequests")
    down = await apns.push.send(warning(PushPlatform.APNS, IPHONE))
    assert down.outcome is Outcome.RETRY and down.retry_after == timedelta(seconds=30)
    assert (await apns.push.send(warning(PushPlatform.APNS, IPHONE))).outcome is Outcome.SENT


async def test_an_expired_provider_token_is_renewed_once_and_the_push_sent(apns: Apns) -> None:
    apns.fake.forced.append(Forced(403, {"reason": "ExpiredProviderToken"}))
    assert (await apns.push.send(warning(PushPlatform.APNS, IPHONE))).outcome is Outcome.SENT
    assert len(apns.fake.seen) == 2


async def test_a_service_that_never_answers_is_retried_within_the_timeout(apns: Apns) -> None:
    apns.fake.hang = asyncio.Event()
    try:
        delivery = await asyncio.wait_for(
            apns.push.send(warning(PushPlatform.APNS, IPHONE)), timeout=10
        )
    finally:
        apns.fake.hang.set()
    assert delivery.outcome is Outcome.RETRY


async def test_fcm_gets_an_access_token_once_and_delivers_over_http2(fcm: Fcm) -> None:
    for _ in range(3):
        delivery = await fcm.push.send(warning(PushPlatform.FCM, PIXEL))
        assert delivery.outcome is Outcome.SENT
        assert delivery.provider_id and delivery.provider_id.startswith(
            "projects/brand-points/messages/"
        )
    assert fcm.fake.token_requests == 1
    assert {seen.http_version for seen in fcm.fake.seen} == {"2"}
    message = json.loads(fcm.fake.seen[0].body)["message"]
    assert message["token"] == PIXEL
    assert message["data"] == {"kind": "expiry_warning", "points": "1200"}
    assert message["android"] == {"collapse_key": "expiry"}


async def test_fcm_renews_its_access_token_when_it_expires(fcm: Fcm, clock: FrozenClock) -> None:
    assert (await fcm.push.send(warning(PushPlatform.FCM, PIXEL))).outcome is Outcome.SENT
    clock.advance(timedelta(minutes=59))  # inside the minute before expires_in
    assert (await fcm.push.send(warning(PushPlatform.FCM, PIXEL))).outcome is Outcome.SENT
    assert fcm.fake.token_requests == 2


async def test_a_revoked_access_token_is_renewed_once(fcm: Fcm) -> None:
    assert (await fcm.push.send(warning(PushPlatform.FCM, PIXEL))).outcome is Outcome.SENT
    fcm.fake.issued.clear()  # Google no longer knows the token we hold
    assert (await fcm.push.send(warning(PushPlatform.FCM, PIXEL))).outcome is Outcome.SENT
    assert fcm.fake.token_requests == 2


async def test_fcm_unregistered_is_an_invalid_recipient_and_quota_a_retry(fcm: Fcm) -> None:
    gone = await fcm.push.send(warning(PushPlatform.FCM, OLD_PIXEL))
    assert (gone.outcome, gone.error_code) == (Outcome.INVALID_RECIPIENT, "UNREGISTERED")
    quota = fcm_error(429, "RESOURCE_EXHAUSTED", "quota", "QUOTA_EXCEEDED")
    fcm.fake.forced.append(Forced(429, quota, headers={"retry-after": "60"}))
    limited = await fcm.push.send(warning(PushPlatform.FCM, PIXEL))
    assert (limited.outcome, limited.retry_after) == (Outcome.RETRY, timedelta(seconds=60))
    malformed = await fcm.push.send(warning(PushPlatform.FCM, "not-a-registered-token-at-all"))
    assert (malformed.outcome, malformed.error_code) == (Outcome.FAILED, "INVALID_ARGUMENT")


async def test_a_service_account_google_does_not_know_fails_the_message(
    fcm: Fcm, clock: FrozenClock
) -> None:
    other_key, _ = pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    account = ServiceAccount(fcm.fake.client_email, other_key, fcm.fake.token_uri)
    push = FcmPush(
        project_id="brand-points", account=account, clock=clock, endpoint=fcm.url, client=fcm.client
    )
    delivery = await push.send(warning(PushPlatform.FCM, PIXEL))
    assert (delivery.outcome, delivery.error_code) == (Outcome.FAILED, "invalid_grant")
    assert fcm.fake.seen == []


@pytest.mark.parametrize(
    "changes",
    [
        {"device_token": "zz" * 32},  # not hex
        {"device_token": "a" * 63},
        {"title": ""},
        {"title": "x" * 101},
        {"body": "line\x00break"},
        {"data": {"aps": "spoofed"}},
        {"data": {f"k{i}": "v" for i in range(21)}},
        {"data": {"note": "x" * 513}},
        {"collapse_key": "k" * 65},
    ],
)
def test_a_push_out_of_bounds_is_refused_before_any_request(changes: dict[str, object]) -> None:
    with pytest.raises(PushRefused):
        warning(PushPlatform.APNS, IPHONE, **changes)


async def test_the_configured_providers_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FrozenClock
) -> None:
    (tmp_path / "apns.p8").write_text(APNS_KEY)
    account = {
        "type": "service_account",
        "client_email": "push@brand.iam.gserviceaccount.com",
        "private_key": FCM_KEY,
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    (tmp_path / "fcm.json").write_text(json.dumps(account))
    for name, value in {
        "JIFEN_APNS_KEY_FILE": str(tmp_path / "apns.p8"),
        "JIFEN_APNS_KEY_ID": KEY_ID,
        "JIFEN_APNS_TEAM_ID": TEAM,
        "JIFEN_APNS_TOPIC": TOPIC,
        "JIFEN_FCM_SERVICE_ACCOUNT_FILE": str(tmp_path / "fcm.json"),
        "JIFEN_FCM_PROJECT_ID": "brand-points",
    }.items():
        monkeypatch.setenv(name, value)
    providers = build_push_providers(load_settings(), clock=clock)
    try:
        assert set(providers) == {PushPlatform.APNS, PushPlatform.FCM}
    finally:
        for provider in providers.values():
            await provider.aclose()
    monkeypatch.delenv("JIFEN_APNS_TOPIC")
    with pytest.raises(ConfigurationError, match="JIFEN_APNS_TOPIC"):
        load_settings()
