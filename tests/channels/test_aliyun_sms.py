"""Alibaba Cloud SMS against a local Dysmsapi (tests/channels/fake_aliyun.py) that checks what
Alibaba checks and answers with Alibaba's codes; the timeouts, dropped connections and 503s of
both providers are in test_sms_network.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from app.channels import AliyunSms, Delivery, Outcome, SmsMessage, aliyun_outcome
from app.channels.aliyun_sms import ALIYUN_OUTCOMES, rpc_signature
from app.clock import FrozenClock
from tests.channels.fake_aliyun import KEY_ID, SECRET, SIGN, FakeDysmsapi, documented_signature


@pytest.fixture
def fake(clock: FrozenClock) -> Iterator[FakeDysmsapi]:
    server = FakeDysmsapi(clock)
    with server.running():
        yield server


def adapter(fake: FakeDysmsapi, http: httpx.AsyncClient, clock: FrozenClock, **kwargs) -> AliyunSms:
    options = {"access_key_id": KEY_ID, "access_key_secret": SECRET, "timeout": 5.0, **kwargs}
    return AliyunSms(clock=clock, endpoint=fake.url, client=http, **options)


def points_message(phone: str = "+8613800138000", **kwargs) -> SmsMessage:
    fields = {
        "phone": phone,
        "sign_name": SIGN,
        "template_code": "SMS_100001",
        "params": {"name": "王小明", "points": "1200"},
        **kwargs,
    }
    return SmsMessage(**fields)


async def test_a_good_send_is_sent_with_the_biz_id(fake, http, clock) -> None:
    delivery = await adapter(fake, http, clock).send(points_message())

    assert delivery == Delivery(Outcome.SENT, provider_id="9006197469364984401^0", detail="OK")
    [sent] = fake.sent
    assert sent["PhoneNumbers"] == "13800138000"  # mainland: the 11 digits, no +86
    assert sent["SignName"] == "积分乐园"
    assert json.loads(sent["TemplateParam"]) == {"name": "王小明", "points": "1200"}
    assert sent["Timestamp"] == "2026-01-15T09:00:00Z"
    assert sent["RegionId"] == "cn-hangzhou"


async def test_an_international_number_goes_with_its_country_code_and_no_plus(
    fake, http, clock
) -> None:
    delivery = await adapter(fake, http, clock).send(points_message("+85291234567"))

    assert delivery.outcome is Outcome.SENT
    assert fake.sent[0]["PhoneNumbers"] == "85291234567"


async def test_a_wrong_secret_is_refused_by_the_signature_check(fake, http, clock) -> None:
    delivery = await adapter(fake, http, clock, access_key_secret="not-the-secret").send(
        points_message()
    )

    assert delivery.outcome is Outcome.FAILED
    assert delivery.error_code == "SignatureDoesNotMatch"
    assert "not matched" in delivery.detail
    assert fake.sent == []


async def test_an_unknown_access_key_fails(fake, http, clock) -> None:
    delivery = await adapter(fake, http, clock, access_key_id="LTAI-nobody").send(points_message())

    assert (delivery.outcome, delivery.error_code) == (
        Outcome.FAILED,
        "InvalidAccessKeyId.NotFound",
    )


async def test_a_clock_off_by_an_hour_fails_instead_of_retrying(fake, http, clock) -> None:
    behind = FrozenClock(clock.now() - timedelta(hours=1))

    delivery = await adapter(fake, http, behind).send(points_message())

    assert (delivery.outcome, delivery.error_code) == (Outcome.FAILED, "InvalidTimeStamp.Expired")


async def test_each_request_carries_a_fresh_nonce(fake, http, clock) -> None:
    sms = adapter(fake, http, clock)
    await sms.send(points_message("+8613800138000"))
    await sms.send(points_message("+8613900139000"))

    assert len(fake.sent) == 2 and len(fake.nonces) == 2


@pytest.mark.parametrize(
    ("message", "code", "outcome"),
    [
        (points_message(template_code="SMS_999999"), "isv.SMS_TEMPLATE_ILLEGAL", Outcome.FAILED),
        (
            points_message(template_code="SMS_100002", params={"code": "1234"}),
            "isv.SMS_TEMPLATE_ILLEGAL",
            Outcome.FAILED,
        ),
        (points_message(sign_name="待审签名"), "isv.SMS_SIGNATURE_ILLEGAL", Outcome.FAILED),
        (
            points_message(params={"name": "王小明"}),
            "isv.TEMPLATE_MISSING_PARAMETERS",
            Outcome.FAILED,
        ),
        (points_message("+8612345678901"), "isv.MOBILE_NUMBER_ILLEGAL", Outcome.INVALID_RECIPIENT),
    ],
    ids=["unknown-template", "unapproved-template", "unapproved-sign", "missing-param", "phone"],
)
async def test_what_the_provider_refuses_maps_to_its_outcome(
    fake, http, clock, message, code, outcome
) -> None:
    delivery = await adapter(fake, http, clock).send(message)

    assert (delivery.outcome, delivery.error_code) == (outcome, code)
    assert delivery.detail  # Alibaba's own words
    assert fake.sent == []


async def test_the_minute_flow_control_is_a_retry_that_succeeds_a_minute_later(
    fake, http, clock
) -> None:
    sms = adapter(fake, http, clock)
    assert (await sms.send(points_message())).outcome is Outcome.SENT

    limited = await sms.send(points_message())
    clock.advance(timedelta(seconds=61))
    later = await sms.send(points_message())

    assert (limited.outcome, limited.error_code) == (Outcome.RETRY, "isv.BUSINESS_LIMIT_CONTROL")
    assert later.outcome is Outcome.SENT
    assert len(fake.sent) == 2


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        ("isp.SYSTEM_ERROR", Outcome.RETRY),
        ("isp.GATEWAY_ERROR", Outcome.RETRY),
        ("isv.DAY_LIMIT_CONTROL", Outcome.RETRY),
        ("isv.MOBILE_COUNT_OVER_LIMIT", Outcome.INVALID_RECIPIENT),
        ("isv.AMOUNT_NOT_ENOUGH", Outcome.FAILED),
        ("isv.BLACK_KEY_CONTROL_LIMIT", Outcome.FAILED),
        ("isp.SOMETHING_NEW", Outcome.RETRY),  # unlisted, the platform's side
        ("isv.SOMETHING_NEW", Outcome.FAILED),  # unlisted, the caller's side
    ],
)
async def test_codes_the_fake_is_told_to_answer_map_to_their_outcome(
    fake, http, clock, code, outcome
) -> None:
    fake.scripted["13800138000"] = code

    delivery = await adapter(fake, http, clock).send(points_message())

    assert (delivery.outcome, delivery.error_code) == (outcome, code)


def test_every_listed_code_has_the_outcome_of_its_kind() -> None:
    retry = {code for code, outcome in ALIYUN_OUTCOMES.items() if outcome is Outcome.RETRY}
    assert {"isv.BUSINESS_LIMIT_CONTROL", "isp.SYSTEM_ERROR"} <= retry
    for code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "isv.SMS_TEMPLATE_ILLEGAL"):
        assert aliyun_outcome(code) is Outcome.FAILED
    for code in ("isv.MOBILE_NUMBER_ILLEGAL", "isv.MOBILE_COUNT_OVER_LIMIT"):
        assert aliyun_outcome(code) is Outcome.INVALID_RECIPIENT
    assert aliyun_outcome("OK") is Outcome.SENT


# Known answers from Alibaba's documentation: the RPC signature page's example
# (DescribeRegions) and the SMS API's own (SendSms, with a Chinese sign name).
DOCUMENTED_RPC = {
    "AccessKeyId": "testid",
    "Action": "DescribeRegions",
    "Format": "XML",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
    "SignatureVersion": "1.0",
    "Timestamp": "2016-02-23T12:46:24Z",
    "Version": "2014-05-26",
}
DOCUMENTED_SEND_SMS = {
    "AccessKeyId": "testId",
    "Action": "SendSms",
    "Format": "XML",
    "OutId": "123",
    "PhoneNumbers": "15300000001",
    "RegionId": "cn-hangzhou",
    "SignName": "阿里云短信测试专用",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
    "SignatureVersion": "1.0",
    "TemplateCode": "SMS_71390007",
    "TemplateParam": '{"customer":"test"}',
    "Timestamp": "2017-07-12T02:42:19Z",
    "Version": "2017-05-25",
}


def test_the_signature_matches_alibabas_documented_examples() -> None:
    assert rpc_signature("GET", DOCUMENTED_RPC, "testsecret") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
    assert rpc_signature("GET", DOCUMENTED_SEND_SMS, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    # and the fake's own checker, written separately, agrees with the documentation too
    assert documented_signature("GET", DOCUMENTED_SEND_SMS, "testSecret") == (
        "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    )


def test_the_percent_encoding_is_alibabas_not_a_form_encoders() -> None:
    params = {"A": "a b*c~d/e+f", "SignName": "积分"}
    assert rpc_signature("POST", params, "k") == documented_signature("POST", params, "k")
    assert rpc_signature("POST", params, "k") != rpc_signature(
        "POST", {**params, "A": "a+b*c~d/e+f"}, "k"
    )
