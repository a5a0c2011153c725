"""Apple Push Notification service over its HTTP/2 provider API, with token-based authentication.

Each request is `POST /3/device/<token>` on api.push.apple.com (api.sandbox.push.apple.com for
development builds), carrying `authorization: bearer <provider token>`, `apns-topic` (the app's
bundle id), `apns-push-type: alert` and the JSON payload `{"aps": {"alert": {...}}, ...data}`.
The provider token is a JWT signed with the team's .p8 key (ES256, header `kid` = key id, claims
`iss` = team id and `iat`); Apple refuses one older than an hour and rate-limits fresh ones, so it
is made once and renewed after 50 minutes (or at once when Apple answers ExpiredProviderToken).

Apple answers 200 with the `apns-id` header, or a status and `{"reason": ...}`: the reasons map
to outcomes in `apns_outcome`.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import httpx
import jwt

from app.channels.delivery import Delivery, Outcome
from app.channels.http_post import HttpAdapter, bounded, json_object, retry_after
from app.channels.push import PushMessage, PushPlatform, http2_client
from app.clock import Clock

APNS_PRODUCTION = "https://api.push.apple.com"
APNS_SANDBOX = "https://api.sandbox.push.apple.com"
TOKEN_RENEWAL = timedelta(minutes=50)

# The device token will never receive for this app: the caller removes it.
APNS_RECIPIENT_REASONS = frozenset({"BadDeviceToken", "Unregistered", "DeviceTokenNotForTopic"})
APNS_RETRY_REASONS = frozenset(
    {"TooManyRequests", "InternalServerError", "ServiceUnavailable", "Shutdown", "IdleTimeout"}
)
STALE_TOKEN_REASONS = frozenset({"ExpiredProviderToken"})


def apns_outcome(status: int, reason: str) -> Outcome:
    """200 is SENT; a token that is bad, unregistered (410) or for another app is
    INVALID_RECIPIENT; rate limits and Apple's own faults are RETRY; anything else (a bad
    topic, payload, key or certificate: something to fix here) is FAILED."""
    if status == 200:
        return Outcome.SENT
    if reason in APNS_RECIPIENT_REASONS or status == 410:
        return Outcome.INVALID_RECIPIENT
    if reason in APNS_RETRY_REASONS or status in {429, 500, 503}:
        return Outcome.RETRY
    return Outcome.FAILED


class ApnsPush(HttpAdapter):
    name = "apns"
    platform = PushPlatform.APNS

    def __init__(
        self,
        *,
        team_id: str,
        key_id: str,
        private_key: str,
        topic: str,
        clock: Clock,
        endpoint: str = APNS_PRODUCTION,
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not (team_id and key_id and private_key and topic):
            raise ValueError("APNs needs a team id, a key id, the .p8 private key and a topic")
        super().__init__(client, timeout, new_client=http2_client)
        self._team_id = team_id
        self._key_id = key_id
        self._private_key = private_key
        self._topic = topic
        self._clock = clock
        self._endpoint = endpoint.rstrip("/")
        self._token: tuple[str, datetime] | None = None

    def provider_token(self) -> str:
        now = self._clock.now()
        if self._token is None or now - self._token[1] >= TOKEN_RENEWAL:
            claims = {"iss": self._team_id, "iat": int(now.timestamp())}
            signed = jwt.encode(
                claims, self._private_key, algorithm="ES256", headers={"kid": self._key_id}
            )
            self._token = (signed, now)
        return self._token[0]

    def request(self, message: PushMessage) -> tuple[str, bytes, dict[str, str]]:
        """The URL, body and headers of one push (the provider token included)."""
        payload: dict[str, object] = {
            **message.data,
            "aps": {"alert": {"title": message.title, "body": message.body}, "sound": "default"},
        }
        headers = {
            "authorization": f"bearer {self.provider_token()}",
            "apns-topic": self._topic,
            "apns-push-type": "alert",
            "apns-priority": "10",
            "content-type": "application/json",
        }
        if message.collapse_key is not None:
            headers["apns-collapse-id"] = message.collapse_key
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return f"{self._endpoint}/3/device/{message.device_token}", body, headers

    async def send(self, message: PushMessage) -> Delivery:
        if message.platform is not PushPlatform.APNS:
            raise ValueError("an FCM token sent to APNs")
        delivery = await self._send_once(message)
        if delivery.error_code in STALE_TOKEN_REASONS:  # renew the provider token, once
            self._token = None
            delivery = await self._send_once(message)
        return delivery

    async def _send_once(self, message: PushMessage) -> Delivery:
        url, body, headers = self.request(message)
        response = await self._post(url, body, headers)
        if isinstance(response, Delivery):
            return response
        if response.status_code == 200:
            return Delivery(Outcome.SENT, provider_id=response.headers.get("apns-id"))
        reason = str(json_object(response).get("reason", ""))
        return Delivery(
            apns_outcome(response.status_code, reason),
            error_code=reason or str(response.status_code),
            detail=bounded(f"HTTP {response.status_code}: {response.text}"),
            retry_after=retry_after(response),
        )
