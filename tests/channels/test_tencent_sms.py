"""Tencent Cloud SMS against a local sms API (tests/channels/fake_tencent.py) that checks what
Tencent checks and answers as Tencent documents; the timeouts, dropped connections and 503s of
both providers are in test_sms_network.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from app.channels import Outcome, SmsMessage, TencentSms, tencent_outcome
from app.channels.tencent_sms import canonical_request, tc3_signature
from app.clock import FrozenClock
from tests.channels.fake_provider import Request
from tests.channels.fake_tencent import (
    APP_ID,
    SECRET_ID,
    SECRET_KEY,
    FakeTencentSms,
    documented_tc3,
)


@pytest.fixture
def fake(clock: FrozenClock) -> Iterator[FakeTencentSms]:
    server = FakeTencentSms(clock)
    with server.running():
        yield server


def adapter(
    fake: FakeTencentSms, http: httpx.AsyncClient, clock: FrozenClock, **kwargs
) -> TencentSms:
    options = {"secret_id": SECRET_ID, "secret_key": SECRET_KEY, "sdk_app_id": APP_ID, **kwargs}
    return TencentSms(clock=clock, endpoint=fake.url, client=http, timeout=5.0, **options)


def points_message(phone: str = "+8613800138000", **kwargs) -> SmsMessage:
    fields = {
        "phone": phone,
        "sign_name": "积分乐园",
        "template_code": "1110",
        "params": {"name": "王小明", "points": "1200"},
        **kwargs,
    }
    return SmsMessage(**fields)


async def test_a_good_send_is_sent_with_the_serial_number(fake, http, clock) -> None:
    delivery = await adapter(fake, http, clock).send(points_message())

    assert delivery.outcome is Outcome.SENT
    assert delivery.provider_id == "5000:104571066915705365784949961"
    [body] = fake.sent
    assert body["PhoneNumberSet"] == ["+8613800138000"]  # E.164, as Tencent takes it
    assert body["TemplateParamSet"] == ["王小明", "1200"]  # positional, in the message's order
    assert (body["SmsSdkAppId"], body["SignName"], body["TemplateId"]) == (
        APP_ID,
        "积分乐园",
        "1110",
    )
    request = fake.requests[0]
    assert request.headers["x-tc-timestamp"] == str(int(clock.now().timestamp()))
    assert request.headers["x-tc-region"] == "ap-guangzhou"


async def test_a_wrong_secret_is_refused_by_the_signature_check(fake, http, clock) -> None:
    delivery = await adapter(fake, http, clock, secret_key="not-the-key").send(points_message())

    assert (delivery.outcome, delivery.error_code) == (
        Outcome.FAILED,
        "AuthFailure.SignatureFailure",
    )
    assert fake.sent == []


@pytest.mark.parametrize(
    ("adapter_options", "message", "code", "outcome"),
    [
        (
            {"secret_id": "AKIDnobody"},
            points_message(),
            "AuthFailure.SecretIdNotFound",
            Outcome.FAILED,
        ),
        (
            {"sdk_app_id": "1400000000"},
            points_message(),
            "InvalidParameterValue.SdkAppIdNotExist",
            Outcome.FAILED,
        ),
        (
            {},
            points_message(sign_name="待审签名"),
            "FailedOperation.SignatureIncorrectOrUnapproved",
            Outcome.FAILED,
        ),
        (
            {},
            points_message(template_code="1111", params={"code": "1234"}),
            "FailedOperation.TemplateIncorrectOrUnapproved",
            Outcome.FAILED,
        ),
        (
            {},
            points_message(template_code="9999"),
            "FailedOperation.TemplateIncorrectOrUnapproved",
            Outcome.FAILED,
        ),
        (
            {},
            points_message(params={"name": "王小明"}),
            "FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
            Outcome.FAILED,
        ),
        (
            {},
            points_message("+8612345678901"),
            "InvalidParameterValue.IncorrectPhoneNumber",
            Outcome.INVALID_RECIPIENT,
        ),
    ],
    ids=[
        "secret-id",
        "app-id",
        "unapproved-sign",
        "unapproved-template",
        "unknown-template",
        "param-count",
        "phone",
    ],
)
async def test_what_the_provider_refuses_maps_to_its_outcome(
    fake, http, clock, adapter_options, message, code, outcome
) -> None:
    delivery = await adapter(fake, http, clock, **adapter_options).send(message)

    assert (delivery.outcome, delivery.error_code) == (outcome, code)
    assert delivery.detail
    assert fake.sent == []


async def test_a_clock_off_by_ten_minutes_fails(fake, http, clock) -> None:
    ahead = FrozenClock(clock.now() + timedelta(minutes=10))

    delivery = await adapter(fake, http, ahead).send(points_message())

    assert (delivery.outcome, delivery.error_code) == (
        Outcome.FAILED,
        "AuthFailure.SignatureExpire",
    )


async def test_the_thirty_second_limit_is_a_retry_after_thirty_seconds_that_then_succeeds(
    fake, http, clock
) -> None:
    sms = adapter(fake, http, clock)
    assert (await sms.send(points_message())).outcome is Outcome.SENT

    limited = await sms.send(points_message())
    clock.advance(limited.retry_after or timedelta(0))
    later = await sms.send(points_message())

    assert (limited.outcome, limited.error_code) == (
        Outcome.RETRY,
        "LimitExceeded.PhoneNumberThirtySecondLimit",
    )
    assert limited.retry_after == timedelta(seconds=30)
    assert later.outcome is Outcome.SENT


@pytest.mark.parametrize(
    ("where", "code", "outcome"),
    [
        ("Status", "LimitExceeded.PhoneNumberDailyLimit", Outcome.RETRY),
        ("Status", "LimitExceeded.DeliveryFrequencyLimit", Outcome.RETRY),
        ("Status", "FailedOperation.PhoneNumberInBlacklist", Outcome.INVALID_RECIPIENT),
        (
            "Error",
            "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber",
            Outcome.INVALID_RECIPIENT,
        ),
        ("Error", "InternalError.Timeout", Outcome.RETRY),
        ("Error", "InternalError.SendAndRecvFail", Outcome.RETRY),
        ("Error", "RequestLimitExceeded", Outcome.RETRY),
        ("Error", "FailedOperation.InsufficientBalanceInSmsPackage", Outcome.FAILED),
        ("Error", "FailedOperation.ContainSensitiveWord", Outcome.FAILED),
        ("Error", "AuthFailure.UnauthorizedOperation", Outcome.FAILED),
    ],
)
async def test_codes_the_fake_is_told_to_answer_map_to_their_outcome(
    fake, http, clock, where, code, outcome
) -> None:
    fake.scripted["+8613800138000"] = (where, code)

    delivery = await adapter(fake, http, clock).send(points_message())

    assert (delivery.outcome, delivery.error_code) == (outcome, code)


def test_the_code_families_map_as_documented() -> None:
    assert tencent_outcome("Ok") is Outcome.SENT
    assert tencent_outcome("LimitExceeded.AppDailyLimit") is Outcome.RETRY
    assert tencent_outcome("InternalError.OtherError") is Outcome.RETRY
    assert tencent_outcome("AuthFailure.SignatureFailure") is Outcome.FAILED
    assert (
        tencent_outcome("InvalidParameterValue.IncorrectPhoneNumber") is Outcome.INVALID_RECIPIENT
    )
    assert tencent_outcome("SomethingNew.Entirely") is Outcome.FAILED


# The known answer of Tencent's "Signature v3": DescribeInstances on cvm at 1551113065.
DOCUMENTED_BODY = (
    b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
)


def test_the_signature_matches_tencents_documented_example() -> None:
    request = canonical_request(
        host="cvm.tencentcloudapi.com",
        path="/",
        content_type="application/json; charset=utf-8",
        body=DOCUMENTED_BODY,
    )
    assert request.endswith("35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064")
    signature = tc3_signature(
        secret_key="Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        timestamp=1551113065,
        service="cvm",
        canonical_request=request,
    )
    assert signature == "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    # and the fake's own checker, written separately, agrees with the documentation too
    documented = Request(
        "POST",
        "/",
        {"content-type": "application/json; charset=utf-8", "host": "cvm.tencentcloudapi.com"},
        DOCUMENTED_BODY,
    )
    assert (
        documented_tc3(
            "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
            documented,
            ["content-type", "host"],
            "2019-02-25",
            "1551113065",
            service="cvm",
        )
        == signature
    )
