"""Webhooks over real sockets: a local receiver verifies every signature with
`standardwebhooks`; events arrive at least once and in order per member through failures and
timeouts, a failing endpoint is paused with a notice, a ping and a replay arrive, and an event
of an aborted transaction never does. (The worker killed mid-delivery: test_worker_kill.py.)"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
import pytest

from app.clock import SystemClock
from app.db import Mongo
from app.event_log import append
from app.ledger import earn
from app.webhooks import (
    DeliveryPolicy,
    EndpointStatus,
    add_endpoint,
    deliver_due,
    fan_out,
    get_endpoint,
    purge,
    replay,
    send_ping,
    webhook_client,
)
from tests.webhooks.receiver import Receiver, receiving

FAST = DeliveryPolicy(
    first_backoff=timedelta(milliseconds=50),
    max_backoff=timedelta(milliseconds=400),
    timeout=timedelta(milliseconds=500),
    claim_for=timedelta(seconds=5),
    concurrency=16,
)
CLOCK = SystemClock()


async def pump(
    mongo: Mongo,
    policy: DeliveryPolicy,
    done: Callable[[], Awaitable[bool]],
    within: float = 120.0,
) -> None:
    """Run the worker's two passes until `done`, within a deadline (no fixed sleep decides)."""
    deadline = time.monotonic() + within
    async with webhook_client(allow_private=True) as client:  # the worker's, as outside production
        while time.monotonic() < deadline:
            if await done():
                return
            fanned, _ = await fan_out(mongo, CLOCK, policy)
            sent = await deliver_due(mongo, CLOCK, client, policy)
            if not fanned and not sent:
                await asyncio.sleep(0.02)  # nothing due yet: a backoff is running
    raise AssertionError("not delivered in time")


async def _endpoint(mongo: Mongo, receiver: Receiver, types: list[str]) -> str:
    new = await add_endpoint(
        mongo, CLOCK, url=receiver.url, event_types=types, actor="op", allow_local_http=True
    )
    assert new.secret.startswith("whsec_")
    receiver.secret = new.secret
    return new.endpoint.id


@pytest.mark.slow
async def test_a_thousand_events_arrive_in_order_per_member_through_failures(mongo: Mongo) -> None:
    members, each = 8, 125

    def flaky(n: int) -> str:  # the first 600 requests: half fail, some time out
        if n > 600 or n % 2:
            return "ok"
        return "slow" if n % 20 == 0 else "fail"

    with receiving(Receiver(decide=flaky, slow_seconds=0.8)) as receiver:
        await _endpoint(mongo, receiver, ["points.earned"])

        async def earns(member: int) -> None:
            for i in range(each):
                await earn(
                    mongo,
                    CLOCK,
                    member_id=f"w{member}",
                    points=i + 1,
                    idempotency_key=f"w{member}:{i}",
                )

        writing = asyncio.gather(*(earns(m) for m in range(members)))

        async def all_arrived() -> bool:
            return len({r.body["id"] for r in receiver.accepted}) == members * each

        await asyncio.gather(writing, pump(mongo, FAST, all_arrived, within=240))
        assert receiver.bad_signatures == 0
        assert len(receiver.attempts) >= members * each + 300  # half of the first 600 failed
        by_member: dict[str, list[int]] = defaultdict(list)
        seen: set[str] = set()
        for received in receiver.accepted:
            if received.webhook_id in seen:
                continue  # at least once: a repeat carries the same webhook-id
            seen.add(received.webhook_id)
            by_member[received.body["member_id"]].append(received.body["data"]["seq"])
        assert sorted(by_member) == [f"w{m}" for m in range(members)]
        for seqs in by_member.values():
            assert seqs == list(range(1, each + 1))  # nothing lost, nothing out of order


async def test_a_ping_arrives_signed(mongo: Mongo) -> None:
    with receiving(Receiver()) as receiver:
        endpoint_id = await _endpoint(mongo, receiver, ["member.created"])
        webhook_id = await send_ping(mongo, CLOCK, endpoint_id)

        async def pinged() -> bool:
            return any(r.webhook_id == webhook_id for r in receiver.accepted)

        await pump(mongo, FAST, pinged, within=30)
        assert receiver.accepted[0].body["type"] == "ping"
        assert receiver.bad_signatures == 0


async def test_an_event_of_an_aborted_transaction_is_never_delivered(mongo: Mongo) -> None:
    with receiving(Receiver()) as receiver:
        await _endpoint(mongo, receiver, ["member.updated"])

        async def aborted(session):  # type: ignore[no-untyped-def]
            await append(
                mongo,
                session,
                "member.updated",
                "gone",
                {"fields": ["name"]},
                key="aborted",
                occurred_at=CLOCK.now(),
            )
            raise LookupError

        with pytest.raises(LookupError):
            await mongo.transaction(aborted)

        async def committed(session):  # type: ignore[no-untyped-def]
            await append(
                mongo,
                session,
                "member.updated",
                "kept",
                {"fields": ["name"]},
                key="committed",
                occurred_at=CLOCK.now(),
            )

        await mongo.transaction(committed)

        async def arrived() -> bool:
            return len(receiver.accepted) >= 1

        await pump(mongo, FAST, arrived, within=30)
        # both were written before the pass that delivered the second; only it exists
        assert [r.body["member_id"] for r in receiver.accepted] == ["kept"]


async def test_an_endpoint_failing_too_long_is_paused_with_a_notice(mongo: Mongo) -> None:
    policy = DeliveryPolicy(
        first_backoff=timedelta(milliseconds=20),
        max_backoff=timedelta(milliseconds=50),
        pause_after=timedelta(milliseconds=300),
        timeout=timedelta(milliseconds=500),
    )
    with receiving(Receiver(decide=lambda n: "fail")) as receiver:
        endpoint_id = await _endpoint(mongo, receiver, ["points.earned"])
        await earn(mongo, CLOCK, member_id="p1", points=5, idempotency_key="p1")

        async def paused() -> bool:
            endpoint = await get_endpoint(mongo, endpoint_id)
            return endpoint.status is EndpointStatus.PAUSED

        await pump(mongo, policy, paused, within=30)
        notice = await mongo["audit"].find_one(
            {"action": "webhook.auto_pause", "target": f"webhook:{endpoint_id}"}
        )
        assert notice is not None and notice["actor"] == "system:webhooks"
        tried = len(receiver.attempts)
        assert tried >= 2 and receiver.accepted == []
        async with httpx.AsyncClient() as client:  # a paused endpoint is sent nothing
            assert await deliver_due(mongo, CLOCK, client, policy) == 0


async def test_a_replay_sends_a_time_range_again_in_order(mongo: Mongo) -> None:
    with receiving(Receiver()) as receiver:
        endpoint_id = await _endpoint(mongo, receiver, ["points.earned"])
        start = CLOCK.now()
        for i in range(5):
            await earn(mongo, CLOCK, member_id="r1", points=i + 1, idempotency_key=f"r1:{i}")
        end = CLOCK.now() + timedelta(milliseconds=1)

        async def count(n: int) -> Callable[[], Awaitable[bool]]:
            async def reached() -> bool:
                return len(receiver.accepted) >= n

            return reached

        await pump(mongo, FAST, await count(5), within=30)
        replayed = await replay(mongo, CLOCK, endpoint_id, start, end, actor="op")
        assert replayed == 5
        await pump(mongo, FAST, await count(10), within=30)
        first, again = receiver.accepted[:5], receiver.accepted[5:]
        assert [r.body["id"] for r in again] == [r.body["id"] for r in first]
        assert [r.body["data"]["seq"] for r in again] == [1, 2, 3, 4, 5]
        assert {r.webhook_id for r in again}.isdisjoint({r.webhook_id for r in first})
        assert receiver.bad_signatures == 0


async def test_a_delivery_failing_past_its_retry_time_is_dead_and_the_next_goes(
    mongo: Mongo,
) -> None:
    # The retry window is real time: 2 s leaves room for several retries of the first delivery
    # (20-50 ms apart) on a loaded machine, where 300 ms once saw a single attempt before it died.
    policy = DeliveryPolicy(
        first_backoff=timedelta(milliseconds=20),
        max_backoff=timedelta(milliseconds=50),
        retry_for=timedelta(seconds=2),
        timeout=timedelta(milliseconds=500),
    )
    receiver = Receiver()
    receiver.decide = lambda n: "fail" if receiver.attempts[n - 1] == receiver.attempts[0] else "ok"
    with receiving(receiver):
        endpoint_id = await _endpoint(mongo, receiver, ["points.earned"])
        for i in range(3):
            await earn(mongo, CLOCK, member_id="d1", points=i + 1, idempotency_key=f"d1:{i}")

        async def rest_arrived() -> bool:
            return len(receiver.accepted) == 2

        await pump(mongo, policy, rest_arrived, within=30)
        assert [r.body["data"]["seq"] for r in receiver.accepted] == [2, 3]
        assert receiver.attempts.count(receiver.attempts[0]) >= 2  # retried before it died
        dead = await mongo["webhook_deliveries"].find_one(
            {"endpoint_id": endpoint_id, "state": "dead"}
        )
        assert dead is not None and dead["_id"] == receiver.attempts[0]
        # closed deliveries and archived events go once past replay's range (here: at once)
        assert await purge(mongo, CLOCK, keep=timedelta(0)) == 6
        assert await mongo["webhook_deliveries"].count_documents({}) == 0
