"""Tencent Cloud SMS (sms.tencentcloudapi.com, API version 2021-01-11, action SendSms) over the
signed HTTP API (API 3.0), not the SDK: one JSON POST signed with TC3-HMAC-SHA256.

The signature, from Tencent's "Signature v3":

1. CanonicalRequest = method \\n canonical URI \\n query string (empty for a POST) \\n canonical
   headers (content-type and host, name:value in lower case, one per line) \\n signed headers
   ("content-type;host") \\n hex SHA-256 of the body;
2. StringToSign = "TC3-HMAC-SHA256" \\n X-TC-Timestamp \\n date/service/tc3_request \\n hex SHA-256
   of CanonicalRequest, the date being the UTC day of the timestamp;
3. the key is derived by HMAC-SHA256 chaining "TC3" + SecretKey over the date, the service ("sms")
   and "tc3_request"; the signature is the hex HMAC-SHA256 of StringToSign with it;
4. Authorization: TC3-HMAC-SHA256 Credential=SecretId/scope, SignedHeaders=..., Signature=...

A request-level refusal comes as Response.Error {Code, Message}; an accepted request answers one
SendStatusSet entry per number, each with its own Code ("Ok" and a SerialNo when sent). Codes map
to outcomes in tencent_outcome.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import httpx

from app.channels.delivery import Delivery, Outcome
from app.channels.http_post import (
    HttpAdapter,
    bounded,
    json_object,
    retry_after,
    transient_status,
)
from app.channels.sms import SmsMessage
from app.clock import Clock

TENCENT_ENDPOINT = "https://sms.tencentcloudapi.com"
TENCENT_SERVICE = "sms"
TENCENT_VERSION = "2021-01-11"
CONTENT_TYPE = "application/json; charset=utf-8"

TENCENT_RECIPIENT_CODES = frozenset(
    {
        "InvalidParameterValue.IncorrectPhoneNumber",
        "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber",
        "UnsupportedOperation.UnsupportedRegion",
        "FailedOperation.PhoneNumberInBlacklist",  # the member unsubscribed or the carrier blocks
    }
)
# Rate limits whose name says the window: wait that long before the next try.
TENCENT_LIMIT_WINDOWS: Mapping[str, timedelta] = {
    "LimitExceeded.PhoneNumberThirtySecondLimit": timedelta(seconds=30),
    "LimitExceeded.PhoneNumberOneHourLimit": timedelta(hours=1),
}


def tencent_outcome(code: str) -> Outcome:
    """Ok is SENT; rate limits (LimitExceeded.*, RequestLimitExceeded.*) and Tencent's own
    faults (InternalError.*) are RETRY; a number that cannot receive is INVALID_RECIPIENT; anything
    else (unapproved template or sign name, AuthFailure.*, content refused, balance) is FAILED."""
    if code == "Ok":
        return Outcome.SENT
    if code in TENCENT_RECIPIENT_CODES:
        return Outcome.INVALID_RECIPIENT
    if code == "LimitExceeded.PhoneNumberCountLimit":  # too many numbers in one request: a bug
        return Outcome.FAILED
    family = code.split(".", 1)[0]
    if family in {"LimitExceeded", "RequestLimitExceeded", "InternalError"}:
        return Outcome.RETRY
    return Outcome.FAILED


def _hmac_sha256(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def tc3_signature(*, secret_key: str, timestamp: int, service: str, canonical_request: str) -> str:
    """The TC3-HMAC-SHA256 signature of a canonical request made at `timestamp` (Unix seconds)."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    string_to_sign = "\n".join(
        [
            "TC3-HMAC-SHA256",
            str(timestamp),
            f"{date}/{service}/tc3_request",
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = _hmac_sha256(f"TC3{secret_key}".encode(), date)
    key = _hmac_sha256(key, service)
    key = _hmac_sha256(key, "tc3_request")
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def canonical_request(*, host: str, path: str, content_type: str, body: bytes) -> str:
    """The CanonicalRequest of a POST signing content-type and host."""
    return "\n".join(
        [
            "POST",
            path or "/",
            "",
            f"content-type:{content_type.strip().lower()}\nhost:{host.strip().lower()}\n",
            "content-type;host",
            hashlib.sha256(body).hexdigest(),
        ]
    )


def tc3_authorization(
    *, secret_id: str, secret_key: str, timestamp: int, host: str, path: str, body: bytes
) -> str:
    """The Authorization header of a JSON POST of `body` to the SMS service at `host`."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    request = canonical_request(host=host, path=path, content_type=CONTENT_TYPE, body=body)
    signature = tc3_signature(
        secret_key=secret_key,
        timestamp=timestamp,
        service=TENCENT_SERVICE,
        canonical_request=request,
    )
    return (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{date}/{TENCENT_SERVICE}/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={signature}"
    )


class TencentSms(HttpAdapter):
    """Tencent Cloud SMS; `endpoint` is the API's URL (a local fake in tests). The service name
    signed is always "sms", whatever host the endpoint names."""

    name = "tencent"

    def __init__(
        self,
        *,
        secret_id: str,
        secret_key: str,
        sdk_app_id: str,
        clock: Clock,
        region: str = "ap-guangzhou",
        endpoint: str = TENCENT_ENDPOINT,
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not secret_id or not secret_key:
            raise ValueError("Tencent Cloud SMS needs a SecretId and a SecretKey")
        if not sdk_app_id.isdigit():
            raise ValueError("Tencent Cloud SMS needs the SmsSdkAppId, digits (e.g. 1400006666)")
        super().__init__(client, timeout)
        self._secret_id = secret_id
        self._secret_key = secret_key
        self._sdk_app_id = sdk_app_id
        self._clock = clock
        self._region = region
        self._endpoint = endpoint
        url = httpx.URL(endpoint)
        self._host = url.host if url.port is None else f"{url.host}:{url.port}"
        self._path = url.path or "/"

    def signed_request(self, message: SmsMessage) -> tuple[bytes, dict[str, str]]:
        """The body and headers of one SendSms request, Authorization included."""
        body = json.dumps(
            {
                "PhoneNumberSet": [message.phone],
                "SmsSdkAppId": self._sdk_app_id,
                "SignName": message.sign_name,
                "TemplateId": message.template_code,
                "TemplateParamSet": list(message.params.values()),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        timestamp = int(self._clock.now().timestamp())
        headers = {
            "Authorization": tc3_authorization(
                secret_id=self._secret_id,
                secret_key=self._secret_key,
                timestamp=timestamp,
                host=self._host,
                path=self._path,
                body=body,
            ),
            "Content-Type": CONTENT_TYPE,
            "Host": self._host,
            "X-TC-Action": "SendSms",
            "X-TC-Version": TENCENT_VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": self._region,
        }
        return body, headers

    async def send(self, message: SmsMessage) -> Delivery:
        body, headers = self.signed_request(message)
        response = await self._post(self._endpoint, body, headers)
        if isinstance(response, Delivery):
            return response
        return _read_answer(response)


def _read_answer(response: httpx.Response) -> Delivery:
    answer = json_object(response).get("Response")
    if not isinstance(answer, dict):
        if response.is_success:  # whether it was sent is unknown: try again
            return Delivery(Outcome.RETRY, detail=bounded(f"unreadable answer: {response.text}"))
        return transient_status(response)
    error = answer.get("Error")
    statuses = answer.get("SendStatusSet")
    status: dict[str, object]
    if isinstance(error, dict):
        status = error
    elif isinstance(statuses, list) and statuses and isinstance(statuses[0], dict):
        status = statuses[0]
    else:
        return Delivery(Outcome.RETRY, detail=bounded(f"no status in the answer: {response.text}"))
    code = str(status.get("Code") or "")
    detail = bounded(str(status.get("Message") or ""))
    outcome = tencent_outcome(code)
    if outcome is Outcome.SENT:
        serial = status.get("SerialNo")
        return Delivery(
            Outcome.SENT, provider_id=serial if isinstance(serial, str) else None, detail=detail
        )
    wait = TENCENT_LIMIT_WINDOWS.get(code) or retry_after(response)
    return Delivery(outcome, error_code=code or None, detail=detail, retry_after=wait)
