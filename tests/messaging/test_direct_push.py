"""A warning pushed straight to the member's devices through APNs and FCM (their local HTTP/2
stand-ins of tests/channels/fake_push.py, over TLS): one request per device, a device its
service no longer knows removed from the member at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from app.channels import ApnsPush, FcmPush, PushPlatform, ServiceAccount
from app.clock import FrozenClock
from app.db import Mongo
from app.messaging import Transports, deliver_due
from app.notifications import PushPlatform as DevicePlatform
from app.notifications import register_push_token
from tests.channels.fake_push import FakeApns, FakeFcm, served_h2
from tests.channels.test_push import (
    APNS_KEY,
    APNS_PUBLIC,
    FCM_KEY,
    FCM_PUBLIC,
    IPHONE,
    KEY_ID,
    OLD_IPHONE,
    OLD_PIXEL,
    PIXEL,
    TEAM,
    TOPIC,
    trusting,
)
from tests.channels.tls import Certificate, self_signed
from tests.messaging.test_delivery import new_member, records, warn


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed(tmp_path_factory.mktemp("tls"))


@dataclass
class Services:
    apns: FakeApns
    fcm: FakeFcm
    transports: Transports


@pytest.fixture
async def services(clock: FrozenClock, certificate: Certificate) -> AsyncIterator[Services]:
    apns = FakeApns(APNS_PUBLIC, KEY_ID, TEAM, TOPIC, clock, {IPHONE}, {OLD_IPHONE})
    fcm = FakeFcm(FCM_PUBLIC, "push@brand.iam.gserviceaccount.com", "brand-points", clock)
    fcm.registered.add(PIXEL)
    fcm.unregistered.add(OLD_PIXEL)
    async with (
        served_h2(apns.app(), certificate) as apns_url,
        served_h2(fcm.app(), certificate) as fcm_url,
        trusting(certificate) as client,
    ):
        fcm.token_uri = f"{fcm_url}/token"
        account = ServiceAccount(fcm.client_email, FCM_KEY, fcm.token_uri)
        direct = {
            PushPlatform.APNS: ApnsPush(
                team_id=TEAM,
                key_id=KEY_ID,
                private_key=APNS_KEY,
                topic=TOPIC,
                clock=clock,
                endpoint=apns_url,
                client=client,
            ),
            PushPlatform.FCM: FcmPush(
                project_id="brand-points",
                account=account,
                clock=clock,
                endpoint=fcm_url,
                client=client,
            ),
        }
        yield Services(apns, fcm, Transports(direct_push=direct))


async def test_a_warning_reaches_an_iphone_and_an_android_phone_directly(
    mongo: Mongo, clock: FrozenClock, program: None, services: Services
) -> None:
    member_id = await new_member(mongo, clock, device=IPHONE)
    await register_push_token(mongo, clock, member_id, DevicePlatform.ANDROID, PIXEL)
    await warn(mongo, clock, member_id, 1200, days=3)
    assert await deliver_due(mongo, clock, services.transports) == 1
    push = (await records(mongo, member_id))["push"]
    assert (push["status"], push["transport"]) == ("sent", "apns+fcm")
    assert [seen.path for seen in services.apns.seen] == [f"/3/device/{IPHONE}"]
    assert len(services.fcm.seen) == 1 and PIXEL.encode() in services.fcm.seen[0].body
    assert b"1,200" in services.apns.seen[0].body


async def test_a_device_its_service_no_longer_knows_is_removed_and_the_others_still_reached(
    mongo: Mongo, clock: FrozenClock, program: None, services: Services
) -> None:
    member_id = await new_member(mongo, clock, device=OLD_IPHONE)
    await register_push_token(mongo, clock, member_id, DevicePlatform.ANDROID, PIXEL)
    await warn(mongo, clock, member_id, 500, days=3)
    assert await deliver_due(mongo, clock, services.transports) == 1
    assert (await records(mongo, member_id))["push"]["status"] == "sent"
    member = await mongo["members"].find_one({"_id": member_id})
    assert member is not None
    assert [device["token"] for device in member["push_tokens"]] == [PIXEL]


async def test_when_every_device_is_gone_the_push_fails_as_unusable(
    mongo: Mongo, clock: FrozenClock, program: None, services: Services
) -> None:
    member_id = await new_member(mongo, clock, device=OLD_IPHONE)
    await register_push_token(mongo, clock, member_id, DevicePlatform.ANDROID, OLD_PIXEL)
    await warn(mongo, clock, member_id, 500, days=3)
    assert await deliver_due(mongo, clock, services.transports) == 1
    push = (await records(mongo, member_id))["push"]
    assert (push["status"], push["reason"]) == ("failed", "unusable")
    member = await mongo["members"].find_one({"_id": member_id})
    assert member is not None and member["push_tokens"] == []
