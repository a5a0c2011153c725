"""Firebase Cloud Messaging over its HTTP v1 API, authorised as a service account.

A send is `POST /v1/projects/<project>/messages:send` with `{"message": {"token", "notification":
{"title", "body"}, "data", "android": {"collapse_key"}}}` and an OAuth 2.0 access token. The token
comes from the service account's own key, as Google's server-to-server flow documents: a JWT
(RS256, `iss` = the account's e-mail, `scope` = firebase.messaging, `aud` = its token URI, `iat`,
`exp` an hour later) posted to the token URI as `grant_type=urn:ietf:params:oauth:grant-type:
jwt-bearer`, whose answer's `access_token` is reused until a minute before `expires_in`, and
renewed at once if FCM answers 401.

FCM answers `{"name": "projects/<p>/messages/<id>"}` when it accepted the message, else an
`error` with a status and, in its details, an FcmError `errorCode`: they map in `fcm_outcome`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

import httpx
import jwt

from app.channels.delivery import Delivery, Outcome
from app.channels.http_post import HttpAdapter, bounded, json_object, retry_after
from app.channels.push import PushMessage, PushPlatform, http2_client
from app.clock import Clock

FCM_ENDPOINT = "https://fcm.googleapis.com"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
EARLY_RENEWAL = timedelta(minutes=1)


@dataclass(frozen=True)
class ServiceAccount:
    """The fields of a Google service account's JSON key that the token flow uses."""

    client_email: str
    private_key: str  # PEM, RSA
    token_uri: str = "https://oauth2.googleapis.com/token"

    @classmethod
    def from_json(cls, text: str) -> ServiceAccount:
        fields = json.loads(text)
        if not isinstance(fields, dict) or fields.get("type") != "service_account":
            raise ValueError("not a Google service account key (type service_account)")
        return cls(
            client_email=str(fields["client_email"]),
            private_key=str(fields["private_key"]),
            token_uri=str(fields.get("token_uri") or cls.token_uri),
        )


def fcm_outcome(status: int, error_code: str) -> Outcome:
    """UNREGISTERED (the app was uninstalled or the token expired) and SENDER_ID_MISMATCH (a token
    of another project) are INVALID_RECIPIENT; QUOTA_EXCEEDED, UNAVAILABLE and INTERNAL are
    RETRY; INVALID_ARGUMENT, THIRD_PARTY_AUTH_ERROR and other refusals are FAILED."""
    if status == 200:
        return Outcome.SENT
    if error_code in {"UNREGISTERED", "SENDER_ID_MISMATCH"}:
        return Outcome.INVALID_RECIPIENT
    if error_code in {"QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL"} or status in {429, 500, 503}:
        return Outcome.RETRY
    return Outcome.FAILED


def fcm_error_code(answer: dict[str, object]) -> str:
    """The FcmError's errorCode in an error answer's details, else the error's status."""
    error = answer.get("error")
    if not isinstance(error, dict):
        return ""
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("errorCode"):
            return str(detail["errorCode"])
    return str(error.get("status", ""))


class FcmPush(HttpAdapter):
    name = "fcm"
    platform = PushPlatform.FCM

    def __init__(
        self,
        *,
        project_id: str,
        account: ServiceAccount,
        clock: Clock,
        endpoint: str = FCM_ENDPOINT,
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not project_id:
            raise ValueError("FCM needs the Firebase project id")
        super().__init__(client, timeout, new_client=http2_client)
        self._project_id = project_id
        self._account = account
        self._clock = clock
        self._endpoint = endpoint.rstrip("/")
        self._access: tuple[str, datetime] | None = None  # the token, and when to renew it

    def assertion(self) -> str:
        now = int(self._clock.now().timestamp())
        claims = {
            "iss": self._account.client_email,
            "scope": FCM_SCOPE,
            "aud": self._account.token_uri,
            "iat": now,
            "exp": now + 3600,
        }
        return jwt.encode(claims, self._account.private_key, algorithm="RS256")

    async def _access_token(self) -> str | Delivery:
        now = self._clock.now()
        if self._access is not None and now < self._access[1]:
            return self._access[0]
        body = urlencode({"grant_type": JWT_BEARER, "assertion": self.assertion()}).encode()
        headers = {"content-type": "application/x-www-form-urlencoded"}
        response = await self._post(self._account.token_uri, body, headers)
        if isinstance(response, Delivery):
            return response
        answer = json_object(response)
        token, lifetime = answer.get("access_token"), answer.get("expires_in")
        if response.status_code != 200 or not isinstance(token, str):
            outcome = Outcome.RETRY if response.status_code >= 500 else Outcome.FAILED
            detail = bounded(f"token: HTTP {response.status_code}: {response.text}")
            return Delivery(outcome, error_code=str(answer.get("error", "")), detail=detail)
        seconds = lifetime if isinstance(lifetime, int) and lifetime > 0 else 3600
        self._access = (token, now + timedelta(seconds=seconds) - EARLY_RENEWAL)
        return token

    def body(self, message: PushMessage) -> bytes:
        fields: dict[str, object] = {
            "token": message.device_token,
            "notification": {"title": message.title, "body": message.body},
        }
        if message.data:
            fields["data"] = dict(message.data)
        if message.collapse_key is not None:
            fields["android"] = {"collapse_key": message.collapse_key}
        return json.dumps({"message": fields}, ensure_ascii=False).encode()

    async def send(self, message: PushMessage) -> Delivery:
        if message.platform is not PushPlatform.FCM:
            raise ValueError("an APNs token sent to FCM")
        delivery = await self._send_once(message)
        if delivery.error_code == "UNAUTHENTICATED":  # the access token was revoked: renew once
            self._access = None
            delivery = await self._send_once(message)
        return delivery

    async def _send_once(self, message: PushMessage) -> Delivery:
        token = await self._access_token()
        if isinstance(token, Delivery):
            return token
        url = f"{self._endpoint}/v1/projects/{self._project_id}/messages:send"
        headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        response = await self._post(url, self.body(message), headers)
        if isinstance(response, Delivery):
            return response
        answer = json_object(response)
        if response.status_code == 200:
            return Delivery(Outcome.SENT, provider_id=str(answer.get("name", "")) or None)
        code = fcm_error_code(answer) or str(response.status_code)
        return Delivery(
            fcm_outcome(response.status_code, code),
            error_code=code,
            detail=bounded(f"HTTP {response.status_code}: {response.text}"),
            retry_after=retry_after(response),
        )
