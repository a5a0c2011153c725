"""A webhook host that resolves to this machine or a private network is refused at delivery in
production: nothing is sent, the attempt fails with the reason, and the delivery dies after its
retry time. The connection goes to the address checked (a name only an injected resolver knows
is delivered to), so the name is never resolved twice."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from app.clock import SystemClock
from app.config import Environment, JwtAlgorithm, Settings
from app.db import Mongo
from app.members import create_member
from app.webhooks import DEAD, DeliveryPolicy, deliver_due, fan_out, is_public, webhook_client
from app.webhooks.endpoints import DELIVERIES, ENDPOINTS
from app.worker import webhook_client_for
from tests.channels.tls import self_signed
from tests.webhooks.receiver import Receiver, receiving
from tests.webhooks.test_delivery import FAST, _endpoint

CLOCK = SystemClock()


def production(settings: Settings, tmp_path: Path) -> Settings:
    return Settings(
        env=Environment.PRODUCTION,
        mongodb_url=settings.mongodb_url,
        db_name=settings.db_name,
        data_dir=tmp_path / "prod",
        jwt_algorithm=JwtAlgorithm.HS256,
        jwt_hs256_secret="h" * 32,
    )


async def _one_event(mongo: Mongo) -> None:
    await create_member(mongo, CLOCK, name="Han Meimei", tier="member")
    fanned, _ = await fan_out(mongo, CLOCK, FAST)
    assert fanned == 1


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("::ffff:8.8.8.8", True),
        ("127.0.0.1", False),
        ("127.8.9.10", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # a cloud's metadata service
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("not-an-address", False),
    ],
)
def test_only_global_unicast_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(address) is public


async def test_localhost_is_refused_at_delivery_in_production_and_nothing_is_sent(
    mongo: Mongo, settings: Settings, tmp_path: Path
) -> None:
    with receiving(Receiver()) as receiver:
        endpoint_id = await _endpoint(mongo, receiver, ["member.created"])
        url = f"http://localhost:{receiver.port}/hooks"  # registered in dev, served in production
        await mongo[ENDPOINTS].update_one({"_id": endpoint_id}, {"$set": {"url": url}})
        await _one_event(mongo)
        async with webhook_client_for(production(settings, tmp_path)) as client:
            assert await deliver_due(mongo, CLOCK, client, FAST) == 1
        assert receiver.attempts == []  # no request, not even a connection's worth
        [delivery] = await mongo[DELIVERIES].find().to_list()
        assert delivery["attempts"] == 1 and delivery["state"] == "ready"
        assert delivery["last_error"].startswith("PrivateAddress: localhost resolves to ")
        assert delivery["last_error"].endswith("not a public address: not sent")
        endpoint = await mongo[ENDPOINTS].find_one({"_id": endpoint_id})
        assert endpoint is not None and endpoint["failing_since"] is not None

        # outside production the same endpoint is delivered to (the embedded default, the tests)
        await mongo[DELIVERIES].update_many({}, {"$set": {"next_at": CLOCK.now()}})
        async with webhook_client_for(settings) as client:
            assert await deliver_due(mongo, CLOCK, client, FAST) == 1
        assert len(receiver.accepted) == 1
        assert receiver.hosts == [f"localhost:{receiver.port}"]


async def test_a_refused_host_is_a_dead_letter_once_its_retry_time_is_over(
    mongo: Mongo,
) -> None:
    with receiving(Receiver()) as receiver:
        endpoint_id = await _endpoint(mongo, receiver, ["member.created"])
        await _one_event(mongo)
        over = DeliveryPolicy(retry_for=timedelta(0), timeout=FAST.timeout)
        async with webhook_client(allow_private=False) as client:
            assert await deliver_due(mongo, CLOCK, client, over) == 1
        [delivery] = await mongo[DELIVERIES].find({"endpoint_id": endpoint_id}).to_list()
        assert delivery["state"] == DEAD
        assert "127.0.0.1, not a public address" in delivery["last_error"]
        assert receiver.attempts == []


async def test_the_connection_goes_to_the_address_checked_and_any_private_one_refuses(
    mongo: Mongo,
) -> None:
    answers: dict[str, list[list[str]]] = {}
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return answers[host].pop(0) if len(answers[host]) > 1 else answers[host][0]

    with receiving(Receiver()) as receiver:
        endpoint_id = await _endpoint(mongo, receiver, ["member.created"])
        # a name no system resolver knows: only the injected one, so the connection can only
        # have gone to the address it answered
        url = f"http://hooks.brand.test:{receiver.port}/hooks"
        await mongo[ENDPOINTS].update_one({"_id": endpoint_id}, {"$set": {"url": url}})

        # production: one public answer among private ones is not enough
        answers["hooks.brand.test"] = [["8.8.8.8", "127.0.0.1"]]
        await _one_event(mongo)
        async with webhook_client(allow_private=False, resolve=resolve) as client:
            assert await deliver_due(mongo, CLOCK, client, FAST) == 1
        [refused] = await mongo[DELIVERIES].find().to_list()
        assert "hooks.brand.test resolves to 127.0.0.1" in refused["last_error"]
        assert receiver.attempts == [] and asked == ["hooks.brand.test"]

        # allowed (outside production): the name is resolved once, the request arrives at the
        # address answered with the endpoint's own Host
        asked.clear()
        answers["hooks.brand.test"] = [["127.0.0.1"], ["192.0.2.1"]]  # a rebinding after
        await mongo[DELIVERIES].update_many({}, {"$set": {"next_at": CLOCK.now()}})
        async with webhook_client(allow_private=True, resolve=resolve) as client:
            assert await deliver_due(mongo, CLOCK, client, FAST) == 1
        assert len(receiver.accepted) == 1
        assert asked == ["hooks.brand.test"]
        assert receiver.hosts == [f"hooks.brand.test:{receiver.port}"]
        assert receiver.bad_signatures == 0


async def test_over_tls_the_certificate_is_checked_against_the_endpoints_name(
    mongo: Mongo, tmp_path: Path
) -> None:
    certificate = self_signed(tmp_path, dns_names=("hooks.brand.test",))
    server = certificate.server_context()
    names: list[str | None] = []
    server.sni_callback = lambda _socket, name, _context: names.append(name)  # type: ignore[assignment]

    async def resolve(host: str, port: int) -> list[str]:
        return {"hooks.brand.test": ["127.0.0.1"], "other.brand.test": ["127.0.0.1"]}[host]

    with receiving(Receiver(), tls=server) as receiver:
        endpoint_id = await _endpoint(mongo, receiver, ["member.created"])
        url = f"https://hooks.brand.test:{receiver.port}/hooks"
        await mongo[ENDPOINTS].update_one({"_id": endpoint_id}, {"$set": {"url": url}})
        await _one_event(mongo)
        trusting = certificate.client_context()
        async with webhook_client(allow_private=True, resolve=resolve, verify=trusting) as client:
            assert await deliver_due(mongo, CLOCK, client, FAST) == 1
        assert len(receiver.accepted) == 1 and names == ["hooks.brand.test"]

        # a name the certificate does not carry, at the same address: refused by TLS
        other = f"https://other.brand.test:{receiver.port}/hooks"
        await mongo[ENDPOINTS].update_one({"_id": endpoint_id}, {"$set": {"url": other}})
        await create_member(mongo, CLOCK, name="Li Lei", tier="member")
        await fan_out(mongo, CLOCK, FAST)
        async with webhook_client(allow_private=True, resolve=resolve, verify=trusting) as client:
            assert await deliver_due(mongo, CLOCK, client, FAST) == 1
        failed = await mongo[DELIVERIES].find_one({"state": "ready"})
        assert failed is not None and "certificate" in failed["last_error"].lower()
        assert len(receiver.accepted) == 1
