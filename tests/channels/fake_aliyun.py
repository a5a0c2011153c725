"""A local Dysmsapi (Alibaba Cloud SMS): it checks what Alibaba checks, with its own RPC signature
written from Alibaba's documentation (not the adapter's code), the AccessKey, the timestamp and
nonce, the sign name and template, the variables and the phone, keeps the per-minute flow control
on the test's clock, and answers with Alibaba's codes and shapes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import datetime, timedelta
from urllib.parse import parse_qsl

from app.clock import FrozenClock
from tests.channels.fake_provider import Answer, FakeProvider, Request

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
