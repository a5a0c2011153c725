"""A local sms.tencentcloudapi.com (Tencent Cloud SMS): it checks what Tencent checks, with its own
TC3-HMAC-SHA256 written from Tencent's "Signature v3" (not the adapter's code), the SecretId, the
timestamp, the SmsSdkAppId, sign name and template, the parameter count and the phone, keeps the
30-second limit per number on the test's clock, and answers as Tencent documents:
Response.Error for the request, SendStatusSet for each number."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta

from app.clock import FrozenClock
from tests.channels.fake_provider import Answer, FakeProvider, Request

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
