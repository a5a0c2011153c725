"""Tencent Cloud SMS against a local sms.tencentcloudapi.com: the fake checks what Tencent checks
(its own TC3-HMAC-SHA256, written here from Tencent's "Signature v3", the SecretId, the
timestamp, the SmsSdkAppId, sign name and template, the parameter count, the phone) and answers
as Tencent documents: Response.Error for the request, SendStatusSet for each number."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.channels import Outcome, SmsMessage, TencentSms, tencent_outcome
from app.channels.tencent_sms import canonical_request, tc3_signature
from app.clock import FrozenClock
from tests.channels.fake_provider import Answer, FakeProvider, Mode, Request

SECRET_ID, SECRET_KEY = "AKIDtestSecretId0000", "tencent-test-secret-key"
APP_ID = "1400006666"
SIGNS = {"积分乐园": True, "待审签名": False}
TEMPLATES = {"1110": (True, 2), "1111": (False, 1)}  # id -> (approved, number of parameters)
AUTHORIZATION = re.compile(
    r"TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[a-z]+)"
    r"/tc3_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})"
)


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def documented_tc3(
    secret_key: str, request: Request, signed: list[str], date: str, ts: str, service: str = "sms"
) -> str:
    """Signature v3 step by step, from the request as it arrived."""
    headers = "".join(f"{name}:{request.headers[name].strip().lower()}\n" for name in signed)
    path, _, query = request.path.partition("?")
    canonical = "\n".join(
        ["POST", path, query, headers, ";".join(signed), _sha256_hex(request.body)]
    )
    to_sign = "\n".join(
        [
            "TC3-HMAC-SHA256",
            ts,
            f"{date}/{service}/tc3_request",
            _sha256_hex(canonical.encode("utf-8")),
        ]
    )
    signing = _hmac(
        _hmac(_hmac(("TC3" + secret_key).encode("utf-8"), date), service), "tc3_request"
    )
    return hmac.new(signing, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def _error(code: str, message: str) -> Answer:
    body = {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "ed93f3cb"}}
    return Answer(200, json.dumps(body, ensure_ascii=False).encode(), {})


class FakeTencentSms(FakeProvider):
    def __init__(self, clock: FrozenClock) -> None:
        super().__init__()
        self.clock = clock
        self.last_sent: dict[str, datetime] = {}  # phone -> instant, for the 30-second limit
        self.scripted: dict[str, tuple[str, str]] = {}  # phone -> (where, code): Error or status
        self.sent: list[dict] = []

    def answer(self, request: Request) -> Answer:
        match = AUTHORIZATION.fullmatch(request.headers.get("authorization", ""))
        if match is None:
            return _error("AuthFailure.InvalidAuthorization", "Authorization is invalid")
        if request.headers.get("x-tc-action") != "SendSms":
            return _error("InvalidAction", "the action does not exist")
        if request.headers.get("x-tc-version") != "2021-01-11":
            return _error("NoSuchVersion", "the version does not exist")
        if not request.headers.get("x-tc-region"):
            return _error("MissingParameter", "X-TC-Region")
        ts = request.headers.get("x-tc-timestamp", "")
        stamp = datetime.fromtimestamp(int(ts), UTC) if ts.isdigit() else None
        if stamp is None or abs(stamp - self.clock.now()) > timedelta(minutes=5):
            return _error("AuthFailure.SignatureExpire", "signature expired")
        if match["id"] != SECRET_ID:
            return _error("AuthFailure.SecretIdNotFound", "the SecretId is not found")
        signed = match["signed"].split(";")
        if (
            match["date"] != stamp.strftime("%Y-%m-%d")
            or match["service"] != "sms"
            or not {"content-type", "host"} <= set(signed)
            or documented_tc3(SECRET_KEY, request, signed, match["date"], ts) != match["signature"]
        ):
            return _error(
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated. "
                "Please check your signature is correct.",
            )
        try:
            body = json.loads(request.body)
        except ValueError:
            return _error("FailedOperation.JsonParseFail", "the body is not JSON")
        phones = body.get("PhoneNumberSet") or []
        if not phones:
            return _error("MissingParameter.EmptyPhoneNumberSet", "no phone number")
        if phones[0] in self.scripted and self.scripted[phones[0]][0] == "Error":
            return _error(self.scripted[phones[0]][1], "scripted")
        if body.get("SmsSdkAppId") != APP_ID:
            return _error("InvalidParameterValue.SdkAppIdNotExist", "SdkAppId does not exist")
        if not SIGNS.get(body.get("SignName", ""), False):
            return _error("FailedOperation.SignatureIncorrectOrUnapproved", "签名未审批或格式错误")
        approved, count = TEMPLATES.get(body.get("TemplateId", ""), (False, 0))
        if not approved:
            return _error("FailedOperation.TemplateIncorrectOrUnapproved", "模板未审批或内容不匹配")
        params = body.get("TemplateParamSet") or []
        if len(params) != count or not all(isinstance(p, str) for p in params):
            return _error(
                "FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
                "请求内容与审核通过的模板内容不匹配",
            )
        now = self.clock.now()
        statuses = []
        for phone in phones:
            code, message = "Ok", "send success"
            if phone in self.scripted:
                code, message = self.scripted[phone][1], "scripted"
            elif not re.fullmatch(r"\+861[3-9][0-9]{9}|\+(?!86)[1-9][0-9]{7,14}", phone):
                code, message = "InvalidParameterValue.IncorrectPhoneNumber", "手机号格式错误"
            elif phone in self.last_sent and now - self.last_sent[phone] < timedelta(seconds=30):
                code = "LimitExceeded.PhoneNumberThirtySecondLimit"
                message = "单个手机号30秒内下发短信条数超过设定的上限"
            status = {
                "SerialNo": "",
                "PhoneNumber": phone,
                "Fee": 0,
                "SessionContext": "",
                "Code": code,
                "Message": message,
                "IsoCode": "CN" if phone.startswith("+86") else "HK",
            }
            if code == "Ok":
                self.last_sent[phone] = now
                self.sent.append(body)
                status["SerialNo"], status["Fee"] = (
                    f"5000:10457106691570536578494996{len(self.sent)}",
                    1,
                )
            statuses.append(status)
        answer = {"Response": {"SendStatusSet": statuses, "RequestId": "a0aabda6-cf91"}}
        return Answer(200, json.dumps(answer, ensure_ascii=False).encode(), {})


@pytest.fixture
def fake(clock: FrozenClock) -> Iterator[FakeTencentSms]:
    server = FakeTencentSms(clock)
    with server.running():
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


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


async def test_a_server_that_never_answers_is_a_retry_within_the_timeout(fake, http, clock) -> None:
    fake.mode = Mode.HANG
    sms = TencentSms(
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        sdk_app_id=APP_ID,
        clock=clock,
        endpoint=fake.url,
        client=http,
        timeout=0.5,
    )

    delivery = await asyncio.wait_for(sms.send(points_message()), 10)

    assert delivery.outcome is Outcome.RETRY
    assert fake.hanging.is_set()


async def test_a_connection_closed_without_an_answer_is_a_retry(fake, http, clock) -> None:
    fake.mode = Mode.CLOSE

    delivery = await adapter(fake, http, clock).send(points_message())

    assert delivery.outcome is Outcome.RETRY


async def test_a_503_is_a_retry(fake, http, clock) -> None:
    fake.mode = Mode.UNAVAILABLE

    delivery = await adapter(fake, http, clock).send(points_message())

    assert (delivery.outcome, delivery.retry_after) == (Outcome.RETRY, timedelta(seconds=7))


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
