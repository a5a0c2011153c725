"""Fan-out and delivery: the worker's two passes over the event log (app/event_log.py).

`fan_out` takes a batch of the log (`events` holds only what no consumer took yet) and, in one
transaction, queues one delivery per event and matching endpoint (in `claim_order`) and moves
the events to the archive, `webhook_events` (replays read it by time).
Each (endpoint, member) pair is a queue whose deliveries are numbered as they are queued: only
the lowest undelivered one is `ready`, the others `waiting`, so a member's next event waits until
the previous one is delivered or dead (at least once, in order per member per endpoint).

`deliver_due` sends the ready deliveries of active endpoints, signed per the Standard Webhooks
specification (`webhook-id` is the delivery's id, the same on every attempt; `webhook-timestamp`
the attempt's; `webhook-signature` v1 HMAC-SHA256 by the `standardwebhooks` package). Before
sending, a delivery is claimed for `claim_for`: a worker killed mid-request leaves it to be sent
again once the claim lapses, with the same id (receivers deduplicate on it). A 2xx delivers; any
other answer, a timeout or a refused connection retries after an exponential backoff until
`retry_for` (3 days) has passed since it was queued, then it is dead (kept for an operator). An
endpoint failing continuously for `pause_after` is paused and an operator notice recorded in the
audit log (action `webhook.auto_pause`).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from standardwebhooks import Webhook

from app.audit import record_audit
from app.clock import Clock
from app.db import Document, Mongo
from app.event_log import EVENTS, claim_order, event
from app.webhooks.endpoints import DELIVERIES, ENDPOINTS, QUEUES, Endpoint, EndpointStatus
from app.webhooks.errors import EndpointNotFound, InvalidReplay

ARCHIVE = "webhook_events"  # the events fanned out, kept for replays
READY, WAITING, DELIVERED, DEAD = "ready", "waiting", "delivered", "dead"
SYSTEM_ACTOR = "system:webhooks"
MAX_ERROR_LENGTH = 300
MAX_REPLAY_EVENTS = 10_000
MAX_REPLAY_RANGE = timedelta(days=31)
KEEP_FOR = timedelta(days=31)  # closed deliveries and archived events, then purged (replay's range)
PURGE_BATCH = 1000


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard and how long to try; every batch bounded."""

    retry_for: timedelta = timedelta(days=3)
    first_backoff: timedelta = timedelta(seconds=5)
    max_backoff: timedelta = timedelta(hours=6)
    pause_after: timedelta = timedelta(hours=24)
    claim_for: timedelta = timedelta(seconds=60)
    timeout: timedelta = timedelta(seconds=10)
    fan_out_batch: int = 500
    deliver_batch: int = 100
    concurrency: int = 16
    burst: int = 20  # a queue's next deliveries sent at once after a success, in one pass

    def backoff(self, attempts: int) -> timedelta:
        """5 s, 10 s, 20 s, ... at most 6 h: about 25 attempts in 3 days."""
        return min(self.first_backoff * (1 << min(max(attempts - 1, 0), 30)), self.max_backoff)


def _queue(endpoint_id: str, event: Document) -> str:
    member = event.get("member_id")
    if member is None:  # a ping, or an event of no member: a queue of its own
        return f"{endpoint_id}|-{event['_id']}"
    return f"{endpoint_id}|{member}"


def payload(event: Document) -> str:
    """The body every endpoint receives for the event (the same bytes on every attempt)."""
    occurred = event["occurred_at"]
    if occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=UTC)
    body = {
        "id": f"evt_{event['_id']}",
        "type": event["type"],
        "version": event.get("v", 1),
        "timestamp": occurred.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "member_id": event.get("member_id"),
        "partner_id": event.get("partner_id"),
        "data": event["data"],
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str)


def _delivery(endpoint_id: str, event: Document, now: datetime, replay: bool = False) -> Document:
    return {
        "_id": "msg_" + secrets.token_hex(12),
        "endpoint_id": endpoint_id,
        "queue": _queue(endpoint_id, event),
        "event_id": event["_id"],
        "type": event["type"],
        "payload": payload(event),
        "occurred_at": event["occurred_at"],
        "created_at": now,
        "next_at": now,
        "attempts": 0,
        "replay": replay,
    }


async def _endpoints(mongo: Mongo, *, active_only: bool = False) -> list[Document]:
    query = {"status": EndpointStatus.ACTIVE.value} if active_only else {}
    return await mongo[ENDPOINTS].find(query).limit(1000).to_list()


async def _tiers(mongo: Mongo, events: list[Document], endpoints: list[Endpoint]) -> dict[str, str]:
    """The members' tiers, read only when an endpoint filters by tier (one read per batch)."""
    if not any(endpoint.tier for endpoint in endpoints):
        return {}
    ids = list({e["member_id"] for e in events if e.get("member_id")})
    found = mongo["members"].find({"_id": {"$in": ids}}, {"tier": 1})
    return {doc["_id"]: doc.get("tier", "") async for doc in found}


async def _enqueue(mongo: Mongo, session: AsyncClientSession, deliveries: list[Document]) -> None:
    """Number the deliveries in their queues (in the order given): the first of an idle queue is
    ready, every other waits for the one before it."""
    if not deliveries:
        return
    names = list({d["queue"] for d in deliveries})
    known = {
        q["_id"]: q async for q in mongo[QUEUES].find({"_id": {"$in": names}}, session=session)
    }
    counts: dict[str, tuple[int, int]] = {
        name: (int(q.get("last_seq", 0)), int(q.get("open", 0))) for name, q in known.items()
    }
    for delivery in deliveries:
        last, open_ = counts.get(delivery["queue"], (0, 0))
        delivery["seq"] = last + 1
        delivery["state"] = READY if open_ == 0 else WAITING
        counts[delivery["queue"]] = (last + 1, open_ + 1)
    updates = [
        UpdateOne(
            {"_id": name},
            {
                "$set": {"last_seq": last, "open": open_},
                "$setOnInsert": {"endpoint_id": name.split("|", 1)[0]},
            },
            upsert=True,
        )
        for name, (last, open_) in counts.items()
    ]
    await mongo[QUEUES].bulk_write(updates, ordered=False, session=session)
    await mongo[DELIVERIES].insert_many(deliveries, ordered=True, session=session)


async def fan_out(mongo: Mongo, clock: Clock, policy: DeliveryPolicy) -> tuple[int, bool]:
    """One batch of the log handed to the endpoints: (events fanned, whether more wait)."""
    claimed = await mongo[EVENTS].find({}).limit(policy.fan_out_batch).to_list()
    if not claimed:
        return 0, False
    full = len(claimed) == policy.fan_out_batch
    ordered = claim_order(claimed)
    endpoints = [Endpoint.from_document(doc) for doc in await _endpoints(mongo)]
    tiers = await _tiers(mongo, ordered, endpoints)
    now = clock.now()
    ids = [e["_id"] for e in ordered]

    async def work(session: AsyncClientSession) -> None:
        deliveries = [
            _delivery(endpoint.id, found, now)
            for found in ordered
            for endpoint in endpoints
            if endpoint.wants(found, tiers.get(found.get("member_id") or ""))
        ]
        await _enqueue(mongo, session, deliveries)
        taken = await mongo[EVENTS].delete_many({"_id": {"$in": ids}}, session=session)
        if taken.deleted_count != len(ids):
            raise RuntimeError("another fan-out took these events")  # its lease ran out
        await mongo[ARCHIVE].insert_many(ordered, ordered=False, session=session)

    await mongo.transaction(work)
    return len(ids), full


async def deliver_due(
    mongo: Mongo, clock: Clock, client: httpx.AsyncClient, policy: DeliveryPolicy
) -> int:
    """Send one batch of ready deliveries of active endpoints; returns how many were attempted."""
    endpoints = {doc["_id"]: doc for doc in await _endpoints(mongo, active_only=True)}
    if not endpoints:
        return 0
    now = clock.now()
    due = (
        await mongo[DELIVERIES]
        .find({"state": READY, "next_at": {"$lte": now}, "endpoint_id": {"$in": list(endpoints)}})
        .sort([("state", 1), ("next_at", 1)])
        .limit(policy.deliver_batch)
        .to_list()
    )
    gate = asyncio.Semaphore(policy.concurrency)

    async def one(delivery: Document) -> int:
        """The delivery, then while they succeed the next ones of its queue (up to `burst`)."""
        sent = 0
        following: Document | None = delivery
        async with gate:
            while following is not None and sent < policy.burst:
                at = clock.now()  # due and not claimed: a claim moves next_at past now
                claimed = await mongo[DELIVERIES].update_one(
                    {"_id": following["_id"], "state": READY, "next_at": {"$lte": at}},
                    {"$set": {"next_at": at + policy.claim_for}},
                )
                if claimed.modified_count != 1:
                    break  # another worker has it
                endpoint = endpoints[following["endpoint_id"]]
                following = await _attempt(mongo, clock, client, policy, endpoint, following)
                sent += 1
                if endpoint.get("status") != EndpointStatus.ACTIVE.value:
                    break
        return sent

    return sum(await asyncio.gather(*(one(delivery) for delivery in due)))


async def _attempt(
    mongo: Mongo,
    clock: Clock,
    client: httpx.AsyncClient,
    policy: DeliveryPolicy,
    endpoint: Document,
    delivery: Document,
) -> Document | None:
    """One attempt; the queue's next delivery when this one was delivered (ready now)."""
    sent_at = clock.now()
    body = delivery["payload"]
    headers = {
        "content-type": "application/json",
        "user-agent": "jifen-webhooks/1",
        "webhook-id": delivery["_id"],
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(endpoint["secret"]).sign(delivery["_id"], sent_at, body),
    }
    error: str | None = None
    try:
        response = await client.post(
            endpoint["url"],
            content=body.encode(),
            headers=headers,
            timeout=policy.timeout.total_seconds(),
            follow_redirects=False,
        )
        if not 200 <= response.status_code < 300:
            error = f"HTTP {response.status_code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
    now = clock.now()
    attempts = int(delivery.get("attempts", 0)) + 1
    if error is None:
        following = await _close(mongo, delivery, DELIVERED, now, attempts, None)
        if endpoint.get("failing_since") is not None:
            await mongo[ENDPOINTS].update_one(
                {"_id": endpoint["_id"]}, {"$set": {"failing_since": None}}
            )
            endpoint["failing_since"] = None
        return following
    if now - _aware(delivery["created_at"]) >= policy.retry_for:
        await _close(mongo, delivery, DEAD, now, attempts, error)
    else:
        await mongo[DELIVERIES].update_one(
            {"_id": delivery["_id"]},
            {
                "$set": {
                    "next_at": now + policy.backoff(attempts),
                    "attempts": attempts,
                    "last_error": error,
                    "last_attempt_at": now,
                }
            },
        )
    await _failing(mongo, clock, policy, endpoint, now)
    return None


def _aware(instant: datetime) -> datetime:
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


async def _close(
    mongo: Mongo, delivery: Document, state: str, now: datetime, attempts: int, error: str | None
) -> Document | None:
    """Delivered or dead: the queue's next delivery becomes ready, in the same transaction (and
    is returned as it is then)."""

    async def work(session: AsyncClientSession) -> Document | None:
        changes = {
            "state": state,
            "attempts": attempts,
            "last_error": error,
            "closed_at": now,
            "next_at": now,  # what the purge reads: closed since
        }
        await mongo[DELIVERIES].update_one(
            {"_id": delivery["_id"]}, {"$set": changes}, session=session
        )
        following = await mongo[DELIVERIES].find_one(
            {"queue": delivery["queue"], "state": WAITING},
            sort=[("queue", 1), ("state", 1), ("seq", 1)],
            session=session,
        )
        if following is not None:
            await mongo[DELIVERIES].update_one(
                {"_id": following["_id"]},
                {"$set": {"state": READY, "next_at": now}},
                session=session,
            )
            following = {**following, "state": READY, "next_at": now}
        await mongo[QUEUES].update_one(
            {"_id": delivery["queue"]}, {"$inc": {"open": -1}}, session=session
        )
        return following

    return await mongo.transaction(work)


async def _failing(
    mongo: Mongo, clock: Clock, policy: DeliveryPolicy, endpoint: Document, now: datetime
) -> None:
    """Start the endpoint's failure clock, or pause it once it has run for `pause_after`."""
    since = endpoint.get("failing_since")
    if since is None:
        await mongo[ENDPOINTS].update_one(
            {"_id": endpoint["_id"], "failing_since": None}, {"$set": {"failing_since": now}}
        )
        endpoint["failing_since"] = now
        return
    if now - _aware(since) < policy.pause_after:
        return
    reason = f"failing since {_aware(since).isoformat()}"

    async def work(session: AsyncClientSession) -> None:
        paused = await mongo[ENDPOINTS].update_one(
            {"_id": endpoint["_id"], "status": EndpointStatus.ACTIVE.value},
            {"$set": {"status": EndpointStatus.PAUSED.value, "paused_reason": reason}},
            session=session,
        )
        if paused.modified_count:
            await record_audit(  # the operators' notice: the audit log, action webhook.auto_pause
                mongo,
                clock,
                actor=SYSTEM_ACTOR,
                action="webhook.auto_pause",
                target=f"webhook:{endpoint['_id']}",
                before={"status": EndpointStatus.ACTIVE.value},
                after={"status": EndpointStatus.PAUSED.value},
                note=reason,
                session=session,
            )

    await mongo.transaction(work)
    endpoint["status"] = EndpointStatus.PAUSED.value


async def send_ping(mongo: Mongo, clock: Clock, endpoint_id: str) -> str:
    """Queue a `ping` for the endpoint alone (delivered by the worker like any event); returns
    the delivery's id, its `webhook-id`."""
    found = await mongo[ENDPOINTS].find_one({"_id": endpoint_id}, {"secret": 0})
    if found is None:
        raise EndpointNotFound("no such endpoint", "endpoint_id")
    now = clock.now()
    ping = event("ping", None, {}, key=f"ping:{secrets.token_hex(8)}", occurred_at=now)
    delivery = _delivery(endpoint_id, ping, now)

    async def work(session: AsyncClientSession) -> None:
        await mongo[ARCHIVE].insert_one(ping, session=session)  # never fanned out to others
        await _enqueue(mongo, session, [delivery])

    await mongo.transaction(work)
    return str(delivery["_id"])


async def replay(
    mongo: Mongo,
    clock: Clock,
    endpoint_id: str,
    since: datetime,
    until: datetime,
    *,
    actor: str,
) -> int:
    """Queue again, in order, the events of [since, until) the endpoint wants (new webhook-ids:
    the payload's `id` is the event's and stays the same). At most MAX_REPLAY_EVENTS."""
    if not since < until or until - since > MAX_REPLAY_RANGE:
        raise InvalidReplay(
            f"a range of up to {MAX_REPLAY_RANGE.days} days, since < until", "since"
        )
    found = await mongo[ENDPOINTS].find_one({"_id": endpoint_id}, {"secret": 0})
    if found is None:
        raise EndpointNotFound("no such endpoint", "endpoint_id")
    endpoint = Endpoint.from_document(found)
    events = (
        await mongo[ARCHIVE]
        .find(
            {
                "occurred_at": {"$gte": since, "$lt": until},
                "type": {"$in": list(endpoint.event_types)},
            }
        )
        .sort("occurred_at", 1)
        .limit(MAX_REPLAY_EVENTS + 1)
        .to_list()
    )
    if len(events) > MAX_REPLAY_EVENTS:
        raise InvalidReplay(f"more than {MAX_REPLAY_EVENTS} events: a shorter range", "until")
    tiers = await _tiers(mongo, events, [endpoint])
    now = clock.now()
    deliveries = [
        _delivery(endpoint.id, e, now, replay=True)
        for e in claim_order(events)
        if endpoint.wants(e, tiers.get(e.get("member_id") or ""))
    ]

    async def work(session: AsyncClientSession) -> None:
        await _enqueue(mongo, session, deliveries)
        await record_audit(
            mongo,
            clock,
            actor=actor,
            action="webhook.replay",
            target=f"webhook:{endpoint_id}",
            after={
                "since": since.isoformat(),
                "until": until.isoformat(),
                "events": len(deliveries),
            },
            session=session,
        )

    await mongo.transaction(work)
    return len(deliveries)


async def delivery_counts(mongo: Mongo, endpoint_id: str) -> dict[str, int]:
    """The endpoint's deliveries by state (ready, waiting, delivered, dead)."""
    pipeline: list[dict[str, Any]] = [
        {"$match": {"endpoint_id": endpoint_id}},
        {"$group": {"_id": "$state", "n": {"$sum": 1}}},
    ]
    counts = {state: 0 for state in (READY, WAITING, DELIVERED, DEAD)}
    async for row in await mongo[DELIVERIES].aggregate(pipeline):
        counts[str(row["_id"])] = int(row["n"])
    return counts


async def purge(mongo: Mongo, clock: Clock, keep: timedelta = KEEP_FOR) -> int:
    """Delete up to PURGE_BATCH closed deliveries and archived events older than `keep` (through
    the indexes the passes use); returns how many went."""
    cutoff = clock.now() - keep
    gone = 0
    for state in (DELIVERED, DEAD):
        old = (
            await mongo[DELIVERIES]
            .find({"state": state, "next_at": {"$lt": cutoff}}, {"_id": 1})
            .sort([("state", 1), ("next_at", 1)])
            .limit(PURGE_BATCH)
            .to_list()
        )
        if old:
            deleted = await mongo[DELIVERIES].delete_many({"_id": {"$in": [d["_id"] for d in old]}})
            gone += deleted.deleted_count
    old = (
        await mongo[ARCHIVE]
        .find({"occurred_at": {"$lt": cutoff}}, {"_id": 1})
        .sort("occurred_at", 1)
        .limit(PURGE_BATCH)
        .to_list()
    )
    if old:
        deleted = await mongo[ARCHIVE].delete_many({"_id": {"$in": [e["_id"] for e in old]}})
        gone += deleted.deleted_count
    return gone
