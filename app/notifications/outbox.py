"""The outbox: push and webhook deliveries to the brand's HTTP gateway, at least once, signed.

Writers only insert a document (never an HTTP call inside a ledger transaction); the worker
claims due deliveries, POSTs them with an HMAC-SHA256 signature and an idempotency key, and
retries with exponential backoff until a limit, after which the delivery is dead-lettered for an
operator to inspect and retry.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession

from app.clock import Clock
from app.db import Document, Mongo

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Jifen-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SIGNATURE_TOLERANCE = timedelta(minutes=5)  # how old (or early) a signed delivery may be


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass(frozen=True)
class GatewayResponse:
    status: int
    body: str = ""


# (url, body, headers) -> response; an exception means the gateway could not be reached.
Post = Callable[[str, bytes, dict[str, str]], Awaitable[GatewayResponse]]


@dataclass(frozen=True)
class OutboxPolicy:
    max_attempts: int = 8
    first_backoff: timedelta = timedelta(seconds=10)
    max_backoff: timedelta = timedelta(hours=1)
    claim_for: timedelta = timedelta(minutes=2)

    def backoff(self, attempts: int) -> timedelta:
        doubling: int = 2 ** max(0, attempts - 1)
        return min(self.max_backoff, self.first_backoff * doubling)


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: the receiver checks both and the age."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    secret: bytes,
    header: str,
    body: bytes,
    now: datetime,
    tolerance: timedelta = SIGNATURE_TOLERANCE,
) -> bool:
    """What a receiver checks: our HMAC of "<t>.<body>", and `t` within `tolerance` of `now`.

    Without the age check a captured delivery could be replayed forever; the signed timestamp is
    what makes the tolerance hold (changing it breaks the HMAC).
    """
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now.timestamp() - timestamp) > tolerance.total_seconds():
        return False
    expected = sign(secret, timestamp, body)
    return hmac.compare_digest(expected, header)


async def enqueue(
    mongo: Mongo,
    clock: Clock,
    *,
    kind: str,
    idempotency_key: str,
    payload: dict[str, Any],
    member_id: str | None = None,
    session: AsyncClientSession | None = None,
) -> None:
    """Add a delivery; the idempotency key is unique, so enqueueing twice delivers once."""
    now = clock.now()
    await mongo["outbox"].update_one(
        {"idempotency_key": idempotency_key},
        {
            "$setOnInsert": {
                "kind": kind,
                "member_id": member_id,
                "payload": payload,
                "status": DeliveryStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        },
        upsert=True,
        session=session,
    )


async def _claim(mongo: Mongo, now: datetime, policy: OutboxPolicy) -> Document | None:
    due = {
        "$or": [
            {"status": DeliveryStatus.PENDING.value, "next_attempt_at": {"$lte": now}},
            # A worker that died mid-delivery: its claim lapses and the delivery is tried again.
            {"status": DeliveryStatus.DELIVERING.value, "claimed_until": {"$lte": now}},
        ]
    }
    return await mongo["outbox"].find_one_and_update(
        due,
        {
            "$set": {
                "status": DeliveryStatus.DELIVERING.value,
                "claimed_until": now + policy.claim_for,
            }
        },
        sort=[("next_attempt_at", 1)],
        return_document=ReturnDocument.AFTER,
    )


async def dispatch_due(
    mongo: Mongo,
    clock: Clock,
    *,
    url: str,
    secret: bytes,
    post: Post,
    policy: OutboxPolicy = OutboxPolicy(),
    limit: int = 100,
) -> int:
    """Deliver up to `limit` due deliveries; returns how many were attempted."""
    attempted = 0
    while attempted < limit:
        now = clock.now()
        delivery = await _claim(mongo, now, policy)
        if delivery is None:
            break
        attempted += 1
        await _deliver(mongo, clock, delivery, url=url, secret=secret, post=post, policy=policy)
    return attempted


async def _deliver(
    mongo: Mongo,
    clock: Clock,
    delivery: Document,
    *,
    url: str,
    secret: bytes,
    post: Post,
    policy: OutboxPolicy,
) -> None:
    body = json.dumps(
        {"id": str(delivery["_id"]), "kind": delivery["kind"], "data": delivery["payload"]},
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    ).encode()
    headers = {
        "content-type": "application/json",
        SIGNATURE_HEADER: sign(secret, int(clock.now().timestamp()), body),
        IDEMPOTENCY_HEADER: str(delivery["idempotency_key"]),
    }
    error: str | None = None
    try:
        response = await post(url, body, headers)
        if not 200 <= response.status < 300:
            error = f"gateway answered {response.status}: {response.body[:200]}"
    except Exception as exc:  # the gateway is outside the product; any failure is a retry
        error = f"{type(exc).__name__}: {exc}"
    attempts = int(delivery["attempts"]) + 1
    now = clock.now()
    update: dict[str, Any]
    if error is None:
        update = {
            "status": DeliveryStatus.DELIVERED.value,
            "delivered_at": now,
            "attempts": attempts,
        }
    elif attempts >= policy.max_attempts:
        log.warning("delivery %s dead after %d attempts: %s", delivery["_id"], attempts, error)
        update = {"status": DeliveryStatus.DEAD.value, "attempts": attempts, "last_error": error}
    else:
        update = {
            "status": DeliveryStatus.PENDING.value,
            "attempts": attempts,
            "last_error": error,
            "next_attempt_at": now + policy.backoff(attempts),
        }
    await mongo["outbox"].update_one(
        {"_id": delivery["_id"], "status": DeliveryStatus.DELIVERING.value},
        {"$set": update, "$unset": {"claimed_until": ""}},
    )


async def retry_dead(mongo: Mongo, clock: Clock, delivery_id: str) -> bool:
    """An operator's retry of a dead-lettered delivery: it gets a fresh set of attempts."""
    result = await mongo["outbox"].update_one(
        {"_id": ObjectId(delivery_id), "status": DeliveryStatus.DEAD.value},
        {
            "$set": {
                "status": DeliveryStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": clock.now(),
            }
        },
    )
    return result.modified_count == 1
