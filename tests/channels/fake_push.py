"""Local stand-ins for APNs and FCM that check what the real services check, over HTTP/2 and TLS.

Each is a Starlette app served by hypercorn (HTTP/2 through ALPN, a self-signed certificate the
adapters are told to trust). The APNs fake verifies the provider token (ES256 with the team's
key, `kid`, `iss`, an `iat` under an hour old), the topic, the push type and the payload's size,
and answers Apple's statuses and reasons for each device token it knows. The FCM fake runs the
OAuth 2.0 JWT-bearer token endpoint (the assertion verified with the service account's public
key: issuer, scope, audience, lifetime) and the v1 send endpoint (the bearer token it issued, the
project, the message's shape), answering FCM's error bodies. Both record every request, with the
HTTP version it came over.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jwt
from hypercorn.asyncio import serve
from hypercorn.config import Config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.clock import Clock
from tests.channels.tls import Certificate, free_port

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


@dataclass
class Seen:
    path: str
    http_version: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Forced:
    """The next `times` sends answer this status and body (a rate limit, an outage)."""

    status: int
    body: dict[str, Any]
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeApns:
    public_key: str
    key_id: str
    team_id: str
    topic: str
    clock: Clock
    registered: set[str] = field(default_factory=set)
    unregistered: set[str] = field(default_factory=set)
    seen: list[Seen] = field(default_factory=list)
    forced: list[Forced] = field(default_factory=list)
    hang: asyncio.Event | None = None  # set: sends wait on it (a service that never answers)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/3/device/{token}", self.push, methods=["POST"])])

    def refuse(self, status: int, reason: str) -> JSONResponse:
        millis = int(self.clock.now().timestamp() * 1000)
        body: dict[str, Any] = {"reason": reason}
        if status == 410:
            body["timestamp"] = millis
        return JSONResponse(body, status_code=status, headers={"apns-id": str(uuid.uuid4())})

    async def push(self, request: Request) -> Response:
        body = await request.body()
        self.seen.append(
            Seen(request.url.path, request.scope["http_version"], dict(request.headers), body)
        )
        if self.hang is not None:
            await self.hang.wait()
        if self.forced:
            forced = self.forced[0]
            forced.times -= 1
            if forced.times == 0:
                self.forced.pop(0)
            return JSONResponse(forced.body, forced.status, headers=forced.headers)
        authorization = request.headers.get("authorization", "")
        if not authorization.startswith("bearer "):
            return self.refuse(403, "MissingProviderToken")
        token = authorization.removeprefix("bearer ")
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(
                token, self.public_key, algorithms=["ES256"], options={"verify_iat": False}
            )
        except jwt.PyJWTError:
            return self.refuse(403, "InvalidProviderToken")
        if header.get("kid") != self.key_id or claims.get("iss") != self.team_id:
            return self.refuse(403, "InvalidProviderToken")
        issued = datetime.fromtimestamp(claims["iat"], self.clock.now().tzinfo)
        if self.clock.now() - issued >= timedelta(hours=1):
            return self.refuse(403, "ExpiredProviderToken")
        if request.headers.get("apns-topic") != self.topic:
            return self.refuse(400, "TopicDisallowed")
        if request.headers.get("apns-push-type") != "alert":
            return self.refuse(400, "InvalidPushType")
        if len(body) > 4096:
            return self.refuse(413, "PayloadTooLarge")
        payload = json.loads(body)
        if not isinstance(payload.get("aps", {}).get("alert"), dict):
            return self.refuse(400, "PayloadEmpty")
        device = request.path_params["token"]
        if device in self.unregistered:
            return self.refuse(410, "Unregistered")
        if device not in self.registered:
            return self.refuse(400, "BadDeviceToken")
        return Response(status_code=200, headers={"apns-id": str(uuid.uuid4()).upper()})


def fcm_error(status: int, code: str, message: str, fcm_code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": status, "message": message, "status": code}
    if fcm_code is not None:
        error["details"] = [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": fcm_code}
        ]
    return {"error": error}


@dataclass
class FakeFcm:
    public_key: str
    client_email: str
    project_id: str
    clock: Clock
    token_uri: str = ""  # set once served: the assertion's audience
    registered: set[str] = field(default_factory=set)
    unregistered: set[str] = field(default_factory=set)
    seen: list[Seen] = field(default_factory=list)
    forced: list[Forced] = field(default_factory=list)
    issued: dict[str, datetime] = field(default_factory=dict)  # access token -> expiry
    token_requests: int = 0

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/token", self.token, methods=["POST"]),
                Route("/v1/projects/{project}/messages:send", self.send, methods=["POST"]),
            ]
        )

    async def token(self, request: Request) -> Response:
        self.token_requests += 1
        form = await request.form()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return JSONResponse({"error": "unsupported_grant_type"}, 400)
        try:
            claims = jwt.decode(
                str(form.get("assertion", "")),
                self.public_key,
                algorithms=["RS256"],
                audience=self.token_uri,
                options={"verify_iat": False, "verify_exp": False},
            )
        except jwt.PyJWTError as exc:
            return JSONResponse({"error": "invalid_grant", "error_description": str(exc)}, 400)
        lifetime = claims.get("exp", 0) - claims.get("iat", 0)
        if claims.get("iss") != self.client_email or claims.get("scope") != FCM_SCOPE:
            return JSONResponse({"error": "invalid_grant"}, 400)
        if not 0 < lifetime <= 3600:
            return JSONResponse({"error": "invalid_grant", "error_description": "exp"}, 400)
        access = f"ya29.{secrets.token_urlsafe(24)}"
        self.issued[access] = self.clock.now() + timedelta(seconds=3599)
        return JSONResponse({"access_token": access, "expires_in": 3599, "token_type": "Bearer"})

    async def send(self, request: Request) -> Response:
        body = await request.body()
        self.seen.append(
            Seen(request.url.path, request.scope["http_version"], dict(request.headers), body)
        )
        access = request.headers.get("authorization", "").removeprefix("Bearer ")
        expiry = self.issued.get(access)
        if expiry is None or self.clock.now() >= expiry:
            return JSONResponse(
                fcm_error(401, "UNAUTHENTICATED", "Request had invalid authentication"), 401
            )
        if request.path_params["project"] != self.project_id:
            return JSONResponse(fcm_error(403, "PERMISSION_DENIED", "wrong project"), 403)
        if self.forced:
            forced = self.forced[0]
            forced.times -= 1
            if forced.times == 0:
                self.forced.pop(0)
            return JSONResponse(forced.body, forced.status, headers=forced.headers)
        message = json.loads(body).get("message", {})
        notification = message.get("notification") or {}
        data = message.get("data") or {}
        if not notification.get("title") or not all(isinstance(v, str) for v in data.values()):
            return JSONResponse(
                fcm_error(400, "INVALID_ARGUMENT", "bad message", "INVALID_ARGUMENT"), 400
            )
        device = message.get("token", "")
        if device in self.unregistered:
            return JSONResponse(
                fcm_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"), 404
            )
        if device not in self.registered:
            return JSONResponse(
                fcm_error(
                    400,
                    "INVALID_ARGUMENT",
                    "The registration token is not a valid FCM registration token",
                    "INVALID_ARGUMENT",
                ),
                400,
            )
        number = secrets.randbelow(10**16)
        return JSONResponse({"name": f"projects/{self.project_id}/messages/0:{number}"})


@asynccontextmanager
async def served_h2(app: Starlette, certificate: Certificate) -> AsyncIterator[str]:
    """`app` over HTTPS with HTTP/2 (ALPN) on a free local port; yields its base URL once it
    accepts connections."""
    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile = str(certificate.cert_file)
    config.keyfile = str(certificate.key_file)
    config.alpn_protocols = ["h2", "http/1.1"]
    config.accesslog = None
    config.errorlog = None
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                if task.done() or asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.01)
                continue
            writer.close()
            break
        yield f"https://127.0.0.1:{port}"
    finally:
        stop.set()
        await task
