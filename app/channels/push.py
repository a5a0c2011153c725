"""Push to a member's device directly through Apple's and Google's services (APNs, FCM), beside
the brand's own gateway (app/notifications/outbox.py).

A `PushMessage` is checked when it is built, before any network call: a device token of the
shape its platform issues, a title and body of bounded length without control characters, a few
string data fields. Each provider answers a `Delivery` (app/channels/delivery.py); a token the
provider says is no longer registered is INVALID_RECIPIENT, and the caller removes it from the
member's devices.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import httpx

from app.channels.delivery import Delivery

MAX_TITLE = 100
MAX_BODY = 1_000
MAX_DATA_FIELDS = 20
MAX_DATA_KEY = 64
MAX_DATA_VALUE = 512
MAX_PAYLOAD_BYTES = 4_000  # APNs refuses over 4 KB, FCM over 4 KB of data: checked before sending
APNS_TOKEN = re.compile(r"^[0-9a-fA-F]{64,200}$")  # hex; 32 bytes today, longer allowed by Apple
FCM_TOKEN = re.compile(r"^[A-Za-z0-9_:\-.]{20,4096}$")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class PushPlatform(StrEnum):
    APNS = "apns"  # iOS, through Apple Push Notification service
    FCM = "fcm"  # Android (and others), through Firebase Cloud Messaging


class PushRefused(ValueError):
    """A push message out of bounds; nothing was sent."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class PushMessage:
    platform: PushPlatform
    device_token: str
    title: str
    body: str
    data: Mapping[str, str] = field(default_factory=dict)
    collapse_key: str | None = None  # a newer message with the same key replaces an unread one

    def __post_init__(self) -> None:
        pattern = APNS_TOKEN if self.platform is PushPlatform.APNS else FCM_TOKEN
        if not pattern.fullmatch(self.device_token):
            raise PushRefused("device_token", f"not a {self.platform.value} device token")
        for name, value, limit in (("title", self.title, MAX_TITLE), ("body", self.body, MAX_BODY)):
            if not value.strip() or len(value) > limit:
                raise PushRefused(name, f"1 to {limit} characters")
            if CONTROL.search(value):
                raise PushRefused(name, "a control character")
        if len(self.data) > MAX_DATA_FIELDS:
            raise PushRefused("data", f"at most {MAX_DATA_FIELDS} fields")
        for key, value in self.data.items():
            if not key or len(key) > MAX_DATA_KEY or CONTROL.search(key) or key == "aps":
                raise PushRefused("data", f"a key of 1 to {MAX_DATA_KEY} characters, not aps")
            if len(value) > MAX_DATA_VALUE:
                raise PushRefused("data", f"{key}: at most {MAX_DATA_VALUE} characters")
        if self.collapse_key is not None and not 0 < len(self.collapse_key) <= 64:
            raise PushRefused("collapse_key", "1 to 64 characters")
        size = len(json.dumps([self.title, self.body, dict(self.data)], ensure_ascii=False))
        if size > MAX_PAYLOAD_BYTES - 200:  # the providers' envelopes take the rest
            raise PushRefused("data", f"the payload passes {MAX_PAYLOAD_BYTES} bytes")


class PushProvider(Protocol):
    """One platform's push service."""

    name: str
    platform: PushPlatform

    async def send(self, message: PushMessage) -> Delivery: ...

    async def aclose(self) -> None: ...


def http2_client() -> httpx.AsyncClient:
    """Both services speak HTTP/2 (APNs only HTTP/2): one connection carries every request."""
    return httpx.AsyncClient(http2=True)
