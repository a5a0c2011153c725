"""Endpoints the brand's operators register: a URL, the event types wanted, optional filters by
partner or tier, and a signing secret shown once (kept in the database: it must sign every
delivery). Paused endpoints keep their queue; deleting one drops its deliveries too."""

from __future__ import annotations

import base64
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

from pymongo.asynchronous.client_session import AsyncClientSession

from app.audit import record_audit
from app.clock import Clock
from app.db import Document, Mongo
from app.webhooks.catalog import SUBSCRIBABLE
from app.webhooks.errors import EndpointNotFound, InvalidEndpoint

ENDPOINTS = "webhook_endpoints"
DELIVERIES = "webhook_deliveries"
QUEUES = "webhook_queues"

MAX_URL_LENGTH = 2048
MAX_EVENT_TYPES = len(SUBSCRIBABLE)
MAX_FILTER_LENGTH = 64
MAX_DESCRIPTION_LENGTH = 200
MAX_ENDPOINTS = 100  # per deployment: each event is matched against every one
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class EndpointStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


@dataclass(frozen=True)
class Endpoint:
    id: str
    url: str
    event_types: tuple[str, ...]
    status: EndpointStatus
    created_at: datetime
    partner_id: str | None = None
    tier: str | None = None
    description: str = ""
    paused_reason: str | None = None
    failing_since: datetime | None = None

    @classmethod
    def from_document(cls, doc: Document) -> Endpoint:
        return cls(
            id=doc["_id"],
            url=doc["url"],
            event_types=tuple(doc["event_types"]),
            status=EndpointStatus(doc["status"]),
            created_at=doc["created_at"],
            partner_id=doc.get("partner_id"),
            tier=doc.get("tier"),
            description=doc.get("description", ""),
            paused_reason=doc.get("paused_reason"),
            failing_since=doc.get("failing_since"),
        )

    def wants(self, event: Document, tier: str | None) -> bool:
        """Whether the event goes to this endpoint (a ping only to the endpoint it tests)."""
        if event["type"] not in self.event_types:
            return False
        if self.partner_id is not None and event.get("partner_id") != self.partner_id:
            return False
        return self.tier is None or tier == self.tier


@dataclass(frozen=True)
class NewEndpoint:
    """An endpoint just registered, with its secret: the only time it is shown."""

    endpoint: Endpoint
    secret: str


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def check_url(url: str, *, allow_local_http: bool) -> str:
    """https only; plain http to this machine only where allowed (dev and test)."""
    url = url.strip()
    if not 0 < len(url) <= MAX_URL_LENGTH:
        raise InvalidEndpoint(f"a URL of 1 to {MAX_URL_LENGTH} characters", "url")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError:
        raise InvalidEndpoint("not a URL", "url") from None
    if not parts.hostname or parts.username or parts.password or parts.fragment:
        raise InvalidEndpoint("a URL with a host, no credentials and no fragment", "url")
    if parts.scheme == "http" and allow_local_http and parts.hostname in LOCAL_HOSTS:
        return url
    if parts.scheme != "https":
        raise InvalidEndpoint("the URL must be https (plain http to localhost in dev only)", "url")
    if not allow_local_http and _inside(parts.hostname):
        raise InvalidEndpoint("a public host: not this machine nor a private network", "url")
    return url


def _inside(host: str) -> bool:
    """A host that names this machine or a private network: the worker would POST signed bodies
    to services inside the brand's own network (server-side request forgery). IP literals and the
    reserved names are refused when the endpoint is registered; a public name that resolves
    inside is refused at each connection (app/webhooks/addresses.py)."""
    name = host.lower().rstrip(".")
    if name in LOCAL_HOSTS or name.endswith((".localhost", ".local", ".internal", ".lan")):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return "." not in name  # a bare intranet name (`billing`)
    return not address.is_global


def check_event_types(event_types: list[str]) -> list[str]:
    wanted = sorted(set(event_types))
    if not 0 < len(wanted) <= MAX_EVENT_TYPES:
        raise InvalidEndpoint(f"1 to {MAX_EVENT_TYPES} event types", "event_types")
    unknown = [name for name in wanted if name not in SUBSCRIBABLE]
    if unknown:
        raise InvalidEndpoint(f"not in the catalog: {', '.join(unknown[:5])}", "event_types")
    return wanted


def _check_filter(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not 0 < len(value) <= MAX_FILTER_LENGTH:
        raise InvalidEndpoint(f"1 to {MAX_FILTER_LENGTH} characters", field)
    return value


async def add_endpoint(
    mongo: Mongo,
    clock: Clock,
    *,
    url: str,
    event_types: list[str],
    actor: str,
    partner_id: str | None = None,
    tier: str | None = None,
    description: str = "",
    allow_local_http: bool = False,
) -> NewEndpoint:
    """Register an endpoint (active at once) and answer its secret, this once."""
    checked_url = check_url(url, allow_local_http=allow_local_http)
    types = check_event_types(list(event_types))
    description = " ".join(description.split())
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidEndpoint(f"at most {MAX_DESCRIPTION_LENGTH} characters", "description")
    if await mongo[ENDPOINTS].count_documents({}) >= MAX_ENDPOINTS:
        raise InvalidEndpoint(f"at most {MAX_ENDPOINTS} endpoints", "url")
    secret = new_secret()
    document: Document = {
        "_id": "we_" + secrets.token_hex(10),
        "url": checked_url,
        "event_types": types,
        "partner_id": _check_filter(partner_id, "partner_id"),
        "tier": _check_filter(tier, "tier"),
        "description": description,
        "secret": secret,
        "status": EndpointStatus.ACTIVE.value,
        "created_at": clock.now(),
        "failing_since": None,
        "paused_reason": None,
    }

    async def work(session: AsyncClientSession) -> None:
        await mongo[ENDPOINTS].insert_one(document, session=session)
        await record_audit(
            mongo,
            clock,
            actor=actor,
            action="webhook.add",
            target=f"webhook:{document['_id']}",
            after={"url": checked_url, "event_types": types},
            session=session,
        )

    await mongo.transaction(work)
    return NewEndpoint(Endpoint.from_document(document), secret)


async def list_endpoints(mongo: Mongo) -> list[Endpoint]:
    cursor = mongo[ENDPOINTS].find({}, {"secret": 0}).sort("created_at", 1).limit(MAX_ENDPOINTS)
    return [Endpoint.from_document(doc) async for doc in cursor]


async def get_endpoint(mongo: Mongo, endpoint_id: str) -> Endpoint:
    found = await mongo[ENDPOINTS].find_one({"_id": endpoint_id}, {"secret": 0})
    if found is None:
        raise EndpointNotFound("no such endpoint", "endpoint_id")
    return Endpoint.from_document(found)


async def set_paused(
    mongo: Mongo,
    clock: Clock,
    endpoint_id: str,
    paused: bool,
    *,
    actor: str,
    reason: str | None = None,
) -> Endpoint:
    """Pause (deliveries wait, events keep queueing) or resume (the failure clock starts over)."""
    status = EndpointStatus.PAUSED if paused else EndpointStatus.ACTIVE
    changes: Document = {"status": status.value, "paused_reason": reason if paused else None}
    if not paused:
        changes["failing_since"] = None

    async def work(session: AsyncClientSession) -> Document | None:
        found = await mongo[ENDPOINTS].find_one_and_update(
            {"_id": endpoint_id}, {"$set": changes}, projection={"secret": 0}, session=session
        )
        if found is None:
            return None
        await record_audit(
            mongo,
            clock,
            actor=actor,
            action="webhook.pause" if paused else "webhook.resume",
            target=f"webhook:{endpoint_id}",
            before={"status": found["status"]},
            after={"status": status.value},
            note=reason,
            session=session,
        )
        return {**found, **changes}

    updated = await mongo.transaction(work)
    if updated is None:
        raise EndpointNotFound("no such endpoint", "endpoint_id")
    if not paused:  # what waited while paused is due now
        await mongo[DELIVERIES].update_many(
            {"endpoint_id": endpoint_id, "state": "ready"}, {"$set": {"next_at": clock.now()}}
        )
    return Endpoint.from_document(updated)


async def delete_endpoint(mongo: Mongo, clock: Clock, endpoint_id: str, *, actor: str) -> None:
    """Delete the endpoint with its queue and deliveries (the events stay in the log)."""

    async def work(session: AsyncClientSession) -> bool:
        found = await mongo[ENDPOINTS].find_one_and_delete({"_id": endpoint_id}, session=session)
        if found is None:
            return False
        await record_audit(
            mongo,
            clock,
            actor=actor,
            action="webhook.delete",
            target=f"webhook:{endpoint_id}",
            before={"url": found["url"]},
            session=session,
        )
        return True

    if not await mongo.transaction(work):
        raise EndpointNotFound("no such endpoint", "endpoint_id")
    await mongo[DELIVERIES].delete_many({"endpoint_id": endpoint_id})
    await mongo[QUEUES].delete_many({"endpoint_id": endpoint_id})
