"""Alibaba Cloud SMS (Dysmsapi, API version 2017-05-25, action SendSms) over its signed HTTP API.

Not the SDK: the call is one POST of form fields signed with the RPC signature (HMAC-SHA1,
SignatureVersion 1.0), a few lines of standard library, where the SDK would bring its own HTTP
stack and a dozen packages. The signature, from Alibaba's "Signature mechanism" for RPC APIs:

1. every parameter but Signature, each name and value percent-encoded (UTF-8; A-Z a-z 0-9 - _ . ~
   stay, every other byte is %XY in upper case, so a space is %20 and never +), sorted by name
   and joined as name=value with &;
2. StringToSign = HTTP method + "&" + encode("/") + "&" + encode(that string);
3. Signature = Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign)).

Answers carry Code ("OK" or the error), Message, RequestId and, when sent, BizId. Codes map to
outcomes in ALIYUN_OUTCOMES; an unlisted code beginning "isp." (the platform's side) is a RETRY,
any other unlisted one FAILED.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC
from urllib.parse import quote

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

ALIYUN_ENDPOINT = "https://dysmsapi.aliyuncs.com/"
ALIYUN_VERSION = "2017-05-25"

ALIYUN_OUTCOMES: Mapping[str, Outcome] = {
    "OK": Outcome.SENT,
    # Flow control: per phone per minute / hour / day, or the account's own daily and monthly caps.
    "isv.BUSINESS_LIMIT_CONTROL": Outcome.RETRY,
    "isv.DAY_LIMIT_CONTROL": Outcome.RETRY,
    "isv.MONTH_LIMIT_CONTROL": Outcome.RETRY,
    "Throttling": Outcome.RETRY,
    "Throttling.User": Outcome.RETRY,
    "ServiceUnavailable": Outcome.RETRY,
    "SignatureNonceUsed": Outcome.RETRY,  # a fresh nonce on the next try signs a new request
    "isp.SYSTEM_ERROR": Outcome.RETRY,
    "isp.GATEWAY_ERROR": Outcome.RETRY,
    "isp.UNKNOWN": Outcome.RETRY,
    # This number, with this account, will never receive.
    "isv.MOBILE_NUMBER_ILLEGAL": Outcome.INVALID_RECIPIENT,
    "isv.MOBILE_COUNT_OVER_LIMIT": Outcome.INVALID_RECIPIENT,
    "isv.NOT_SUPPORTED_COUNTRY": Outcome.INVALID_RECIPIENT,
    "isv.DOMESTIC_NUMBER_NOT_SUPPORTED": Outcome.INVALID_RECIPIENT,
    # The template, the sign name, the content or the account: an operator has to act.
    "isv.SMS_TEMPLATE_ILLEGAL": Outcome.FAILED,
    "isv.SMS_SIGNATURE_ILLEGAL": Outcome.FAILED,
    "isv.SMS_SIGN_ILLEGAL": Outcome.FAILED,
    "isv.SIGN_STATE_ILLEGAL": Outcome.FAILED,
    "isv.SMS_SIGNATURE_SCENE_ILLEGAL": Outcome.FAILED,
    "isv.TEMPLATE_MISSING_PARAMETERS": Outcome.FAILED,
    "isv.INVALID_JSON_PARAM": Outcome.FAILED,
    "isv.INVALID_PARAMETERS": Outcome.FAILED,
    "isv.PARAM_LENGTH_LIMIT": Outcome.FAILED,
    "isv.PARAM_NOT_SUPPORT_URL": Outcome.FAILED,
    "isv.BLACK_KEY_CONTROL_LIMIT": Outcome.FAILED,
    "isv.SMS_CONTENT_ILLEGAL": Outcome.FAILED,
    "isv.OUT_OF_SERVICE": Outcome.FAILED,
    "isv.AMOUNT_NOT_ENOUGH": Outcome.FAILED,
    "isv.PRODUCT_UN_SUBSCRIPT": Outcome.FAILED,
    "isv.PRODUCT_UNSUBSCRIBE": Outcome.FAILED,
    "isv.ACCOUNT_NOT_EXISTS": Outcome.FAILED,
    "isv.ACCOUNT_ABNORMAL": Outcome.FAILED,
    "isp.RAM_PERMISSION_DENY": Outcome.FAILED,
    "InvalidAccessKeyId": Outcome.FAILED,
    "InvalidAccessKeyId.NotFound": Outcome.FAILED,
    "InvalidAccessKeyId.Inactive": Outcome.FAILED,
    "SignatureDoesNotMatch": Outcome.FAILED,
    "InvalidTimeStamp.Expired": Outcome.FAILED,  # this host's clock is off: retrying won't help
}


def aliyun_outcome(code: str) -> Outcome:
    """The outcome of an Alibaba answer code (see the module's docstring for unlisted codes)."""
    known = ALIYUN_OUTCOMES.get(code)
    if known is not None:
        return known
    return Outcome.RETRY if code.startswith("isp.") else Outcome.FAILED


def percent_encode(value: str) -> str:
    """Alibaba's encoding: UTF-8, only A-Z a-z 0-9 - _ . ~ left as they are."""
    return quote(value, safe="")


def canonical_query(params: Mapping[str, str]) -> str:
    return "&".join(
        f"{percent_encode(name)}={percent_encode(params[name])}" for name in sorted(params)
    )


def rpc_signature(method: str, params: Mapping[str, str], access_key_secret: str) -> str:
    """The RPC signature (HMAC-SHA1, SignatureVersion 1.0) of `params`, Signature itself excluded."""
    unsigned = {name: value for name, value in params.items() if name != "Signature"}
    string_to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical_query(unsigned))}"
    digest = hmac.new(
        f"{access_key_secret}&".encode(), string_to_sign.encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def aliyun_phone(phone: str) -> str:
    """An E.164 number as Dysmsapi takes it: a mainland number as its 11 digits, any other as
    country code and number without the +."""
    if phone.startswith("+86"):
        return phone[3:]
    return phone[1:]


class AliyunSms(HttpAdapter):
    """Alibaba Cloud SMS; `endpoint` is the Dysmsapi URL (a local fake in tests)."""

    name = "aliyun"

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        clock: Clock,
        endpoint: str = ALIYUN_ENDPOINT,
        region: str = "cn-hangzhou",
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        nonce: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        if not access_key_id or not access_key_secret:
            raise ValueError("Alibaba Cloud SMS needs an AccessKey id and secret")
        super().__init__(client, timeout)
        self._access_key_id = access_key_id
        self._access_key_secret = access_key_secret
        self._clock = clock
        self._endpoint = endpoint
        self._region = region
        self._nonce = nonce

    def signed_form(self, message: SmsMessage) -> dict[str, str]:
        """The form fields of one SendSms request, Signature included."""
        params = {
            "AccessKeyId": self._access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "RegionId": self._region,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": self._nonce(),
            "SignatureVersion": "1.0",
            "Timestamp": self._clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": ALIYUN_VERSION,
            "PhoneNumbers": aliyun_phone(message.phone),
            "SignName": message.sign_name,
            "TemplateCode": message.template_code,
        }
        if message.params:
            params["TemplateParam"] = json.dumps(
                dict(message.params), ensure_ascii=False, separators=(",", ":")
            )
        params["Signature"] = rpc_signature("POST", params, self._access_key_secret)
        return params

    async def send(self, message: SmsMessage) -> Delivery:
        body = canonical_query(self.signed_form(message)).encode("ascii")
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        response = await self._post(self._endpoint, body, headers)
        if isinstance(response, Delivery):
            return response
        return _read_answer(response)


def _read_answer(response: httpx.Response) -> Delivery:
    answer = json_object(response)
    code = answer.get("Code")
    if not isinstance(code, str) or not code:
        if response.is_success:  # a proxy's page, a truncated body: whether it was sent is unknown
            return Delivery(Outcome.RETRY, detail=bounded(f"unreadable answer: {response.text}"))
        return transient_status(response)
    outcome = aliyun_outcome(code)
    if response.status_code >= 500 and outcome is Outcome.FAILED:
        outcome = Outcome.RETRY
    detail = bounded(str(answer.get("Message") or ""))
    if outcome is Outcome.SENT:
        # Accepted: even without a BizId to quote, sending again would deliver it twice.
        biz_id = answer.get("BizId")
        return Delivery(
            Outcome.SENT, provider_id=biz_id if isinstance(biz_id, str) else None, detail=detail
        )
    return Delivery(outcome, error_code=code, detail=detail, retry_after=retry_after(response))
