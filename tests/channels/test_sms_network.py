"""What the network does to either SMS provider: an answer that never comes, a connection
dropped, a 503, a page that is not the provider's, a refused connection. Each is a RETRY, within
the adapter's timeout, and none raises."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from app.channels import AliyunSms, Outcome, SmsMessage, SmsProvider, TencentSms
from app.clock import FrozenClock
from tests.channels import fake_aliyun, fake_tencent
from tests.channels.fake_provider import FakeProvider, Mode


@dataclass(frozen=True)
class Provider:
    fake: Callable[[FrozenClock], FakeProvider]
    adapter: Callable[..., AliyunSms | TencentSms]  # (url, clock, client, timeout)
    template_code: str


PROVIDERS = {
    "aliyun": Provider(
        fake_aliyun.FakeDysmsapi,
        lambda url, clock, client, timeout: AliyunSms(
            access_key_id=fake_aliyun.KEY_ID,
            access_key_secret=fake_aliyun.SECRET,
            clock=clock,
            endpoint=url,
            client=client,
            timeout=timeout,
        ),
        "SMS_100001",
    ),
    "tencent": Provider(
        fake_tencent.FakeTencentSms,
        lambda url, clock, client, timeout: TencentSms(
            secret_id=fake_tencent.SECRET_ID,
            secret_key=fake_tencent.SECRET_KEY,
            sdk_app_id=fake_tencent.APP_ID,
            clock=clock,
            endpoint=url,
            client=client,
            timeout=timeout,
        ),
        "1110",
    ),
}


@pytest.fixture(params=sorted(PROVIDERS))
def provider(request: pytest.FixtureRequest) -> Provider:
    return PROVIDERS[request.param]


@pytest.fixture
def fake(provider: Provider, clock: FrozenClock) -> Iterator[FakeProvider]:
    server = provider.fake(clock)
    with server.running():
        yield server


def message(provider: Provider) -> SmsMessage:
    return SmsMessage(
        phone="+8613800138000",
        sign_name="积分乐园",
        template_code=provider.template_code,
        params={"name": "王小明", "points": "1200"},
    )


async def test_the_fake_answers_a_good_send(provider, fake, http, clock) -> None:
    sms: SmsProvider = provider.adapter(fake.url, clock, http, 5.0)

    assert (await sms.send(message(provider))).outcome is Outcome.SENT


async def test_a_server_that_never_answers_is_a_retry_within_the_timeout(
    provider, fake, http, clock
) -> None:
    fake.mode = Mode.HANG
    sms = provider.adapter(fake.url, clock, http, 0.5)

    delivery = await asyncio.wait_for(sms.send(message(provider)), 10)

    assert delivery.outcome is Outcome.RETRY
    assert "no answer within 0.5 s" in delivery.detail
    assert fake.hanging.is_set()  # the request arrived; the answer is what never came


async def test_a_connection_closed_without_an_answer_is_a_retry(
    provider, fake, http, clock
) -> None:
    fake.mode = Mode.CLOSE

    delivery = await provider.adapter(fake.url, clock, http, 5.0).send(message(provider))

    assert delivery.outcome is Outcome.RETRY
    assert fake.requests


async def test_a_503_is_a_retry_after_the_wait_it_asks(provider, fake, http, clock) -> None:
    fake.mode = Mode.UNAVAILABLE

    delivery = await provider.adapter(fake.url, clock, http, 5.0).send(message(provider))

    assert delivery.outcome is Outcome.RETRY
    assert delivery.retry_after == timedelta(seconds=7)
    assert delivery.detail.startswith("HTTP 503")


async def test_a_page_that_is_not_the_providers_answer_is_a_retry(
    provider, fake, http, clock
) -> None:
    fake.mode = Mode.HTML

    delivery = await provider.adapter(fake.url, clock, http, 5.0).send(message(provider))

    assert delivery.outcome is Outcome.RETRY
    assert "unreadable answer" in delivery.detail


async def test_a_refused_connection_is_a_retry(provider, http, clock) -> None:
    with provider.fake(clock).running() as stopped:
        url = stopped.url  # nothing listens there once the block ends

    delivery = await provider.adapter(url, clock, http, 5.0).send(message(provider))

    assert delivery.outcome is Outcome.RETRY


async def test_an_adapter_without_a_client_owns_and_closes_its_own(provider, fake, clock) -> None:
    async with provider.adapter(fake.url, clock, None, 5.0) as sms:
        assert (await sms.send(message(provider))).outcome is Outcome.SENT

    assert sms._client.is_closed


async def test_a_shared_client_is_left_open(provider, fake, http, clock) -> None:
    async with provider.adapter(fake.url, clock, http, 5.0) as sms:
        await sms.send(message(provider))

    assert not http.is_closed


def test_a_refused_message_never_reaches_the_provider(provider, fake) -> None:
    with pytest.raises(ValueError):
        SmsMessage(phone="138", sign_name="积分乐园", template_code=provider.template_code)

    assert fake.requests == []
