"""Alibaba Cloud SMS against a local Dysmsapi: the fake checks what Alibaba checks (its own RPC
signature, written here from Alibaba's documentation, the AccessKey, the timestamp and nonce, the
sign name and template, the variables, the phone) and answers with Alibaba's codes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from urllib.parse import parse_qsl

import httpx
import pytest

from app.channels import AliyunSms, Delivery, Outcome, SmsMessage, aliyun_outcome
from app.channels.aliyun_sms import ALIYUN_OUTCOMES, rpc_signature
from app.clock import FrozenClock
from tests.channels.fake_provider import Answer, FakeProvider, Mode, Request

KEY_ID, SECRET = "LTAI5tTestKeyId", "aliyun-test-secret"
SIGN = "积分乐园"
# Template code -> (approved, its variables)
TEMPLATES = {
    "SMS_100001": (True, ("name", "points")),
    "SMS_100002": (False, ("code",)),
}
SIGNS = {"积分乐园": True, "待审签名": False}


def documented_encode(text: str) -> str:
    """Alibaba's rule, byte by byte: A-Z a-z 0-9 - _ . ~ stay, every other byte is %XY."""
    unreserved = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
    return "".join(
        chr(byte) if byte in unreserved else f"%{byte:02X}" for byte in text.encode("utf-8")
    )


def documented_signature(method: str, params: dict[str, str], secret: str) -> str:
    pairs = sorted((documented_encode(k), documented_encode(v)) for k, v in params.items())
    query = "&".join(f"{k}={v}" for k, v in pairs)
    string_to_sign = method + "&" + documented_encode("/") + "&" + documented_encode(query)
    mac = hmac.new((secret + "&").encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def _error(status: int, code: str, message: str) -> Answer:
    body = {"RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990", "Code": code, "Message": message}
    if status != 200:
        body["HostId"] = "dysmsapi.aliyuncs.com"
    return Answer(status, json.dumps(body, ensure_ascii=False).encode(), {})


class FakeDysmsapi(FakeProvider):
    def __init__(self, clock: FrozenClock) -> None:
        super().__init__()
        self.clock = clock
        self.nonces: set[str] = set()
        self.last_sent: dict[str, datetime] = {}  # phone -> instant, for the minute flow control
        self.scripted: dict[str, str] = {}  # phone -> the code to answer for it
        self.sent: list[dict[str, str]] = []
        self.biz_ids = 0

    def answer(self, request: Request) -> Answer:
        if request.headers.get("content-type") != "application/x-www-form-urlencoded":
            return _error(400, "MissingParameter", "form body expected")
        params = dict(parse_qsl(request.body.decode("ascii"), keep_blank_values=True))
        signature = params.pop("Signature", "")
        if params.get("AccessKeyId") != KEY_ID:
            return _error(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        if params.get("SignatureMethod") != "HMAC-SHA1" or params.get("SignatureVersion") != "1.0":
            return _error(400, "SignatureDoesNotMatch", "unsupported signature method")
        if signature != documented_signature(request.method, params, SECRET):
            return _error(
                400,
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation.",
            )
        stamp = datetime.fromisoformat(params.get("Timestamp", "").replace("Z", "+00:00"))
        if abs(stamp - self.clock.now()) > timedelta(minutes=15):
            return _error(
                400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
            )
        nonce = params.get("SignatureNonce", "")
        if not nonce or nonce in self.nonces:
            return _error(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        self.nonces.add(nonce)
        if params.get("Action") != "SendSms" or params.get("Version") != "2017-05-25":
            return _error(404, "InvalidVersion", "Specified parameter Version is not valid.")
        if params.get("Format") != "JSON":
            return _error(400, "InvalidParameter", "Format")
        phones = params.get("PhoneNumbers", "").split(",")
        if phones[0] in self.scripted:
            return _error(200, self.scripted[phones[0]], "scripted")
        if len(phones) > 1000:
            return _error(200, "isv.MOBILE_COUNT_OVER_LIMIT", "手机号码数量超过限制")
        for phone in phones:
            # 11 digits starting 1 read as a mainland number, which starts 13 to 19
            mainland = len(phone) == 11 and phone.startswith("1")
            pattern = r"1[3-9][0-9]{9}" if mainland else r"[1-9][0-9]{7,14}"
            if not re.fullmatch(pattern, phone):
                return _error(200, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if not SIGNS.get(params.get("SignName", ""), False):
            return _error(200, "isv.SMS_SIGNATURE_ILLEGAL", "签名不合法(不存在或被拉黑)")
        approved, variables = TEMPLATES.get(params.get("TemplateCode", ""), (False, ()))
        if not approved:
            return _error(200, "isv.SMS_TEMPLATE_ILLEGAL", "模板不合法(不存在或被拉黑)")
        try:
            values = json.loads(params.get("TemplateParam", "{}"))
        except ValueError:
            return _error(200, "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            return _error(200, "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if set(variables) - set(values):
            return _error(200, "isv.TEMPLATE_MISSING_PARAMETERS", "模板变量缺少对应参数值")
        now = self.clock.now()
        for phone in phones:
            last = self.last_sent.get(phone)
            if last is not None and now - last < timedelta(minutes=1):
                return _error(200, "isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1")
        for phone in phones:
            self.last_sent[phone] = now
        self.sent.append(params)
        self.biz_ids += 1
        body = {
            "Message": "OK",
            "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990",
            "Code": "OK",
            "BizId": f"90061974693649844{self.biz_ids:02d}^0",
        }
        return Answer(200, json.dumps(body).encode(), {})


@pytest.fixture
def fake(clock: FrozenClock) -> Iterator[FakeDysmsapi]:
    server = FakeDysmsapi(clock)
    with server.running():
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


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


async def test_a_server_that_never_answers_is_a_retry_within_the_timeout(fake, http, clock) -> None:
    fake.mode = Mode.HANG
    started = time.monotonic()

    delivery = await asyncio.wait_for(
        adapter(fake, http, clock, timeout=0.5).send(points_message()), 10
    )

    assert delivery.outcome is Outcome.RETRY
    assert "no answer within 0.5 s" in delivery.detail
    assert fake.hanging.is_set()  # the request arrived; the answer is what never came
    assert time.monotonic() - started < 10


async def test_a_connection_closed_without_an_answer_is_a_retry(fake, http, clock) -> None:
    fake.mode = Mode.CLOSE

    delivery = await adapter(fake, http, clock).send(points_message())

    assert delivery.outcome is Outcome.RETRY
    assert len(fake.requests) >= 1


async def test_a_503_is_a_retry_after_the_wait_it_asks(fake, http, clock) -> None:
    fake.mode = Mode.UNAVAILABLE

    delivery = await adapter(fake, http, clock).send(points_message())

    assert delivery.outcome is Outcome.RETRY
    assert delivery.retry_after == timedelta(seconds=7)
    assert delivery.detail.startswith("HTTP 503")


async def test_a_page_that_is_not_the_providers_answer_is_a_retry(fake, http, clock) -> None:
    fake.mode = Mode.HTML

    delivery = await adapter(fake, http, clock).send(points_message())

    assert delivery.outcome is Outcome.RETRY
    assert "unreadable answer" in delivery.detail


async def test_a_refused_connection_is_a_retry(http, clock) -> None:
    with FakeDysmsapi(clock).running() as stopped_later:
        url = stopped_later.url
    sms = AliyunSms(
        access_key_id=KEY_ID, access_key_secret=SECRET, clock=clock, endpoint=url, client=http
    )

    delivery = await sms.send(points_message())

    assert delivery.outcome is Outcome.RETRY


async def test_an_adapter_without_a_client_owns_and_closes_its_own(fake, clock) -> None:
    async with AliyunSms(
        access_key_id=KEY_ID, access_key_secret=SECRET, clock=clock, endpoint=fake.url
    ) as sms:
        assert (await sms.send(points_message())).outcome is Outcome.SENT


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
