"""The notification hub: one change stream, fan-out by member, resume after errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from app.db import Document, Mongo
from app.notifications.hub import NotificationHub, SubscriberOverflow


@pytest.fixture
async def hub(mongo: Mongo) -> AsyncIterator[NotificationHub]:
    running = NotificationHub(mongo, retry_seconds=0.05)
    await running.start()
    yield running
    await running.stop()


async def take(stream: AsyncIterator[Document], count: int, wait: float = 10) -> list[Document]:
    return [await asyncio.wait_for(anext(stream), wait) for _ in range(count)]


def listen(hub: NotificationHub, member_id: str) -> AsyncIterator[Document]:
    """One subscriber's stream; iterate the same object for its whole life, as a resolver does."""
    return aiter(hub.subscribe(member_id))


async def test_each_member_receives_only_their_own(mongo: Mongo, hub: NotificationHub) -> None:
    alice, bob = listen(hub, "alice"), listen(hub, "bob")
    await mongo["notifications"].insert_many(
        [
            {"member_id": "alice", "n": 1},
            {"member_id": "bob", "n": 2},
            {"member_id": "carol", "n": 3},
            {"member_id": "alice", "n": 4},
        ]
    )
    assert [d["n"] for d in await take(alice, 2)] == [1, 4]
    assert [d["n"] for d in await take(bob, 1)] == [2]
    with pytest.raises(TimeoutError):
        await take(bob, 1, wait=1.5)


async def test_a_stream_error_resumes_without_losing_inserts(mongo: Mongo) -> None:
    hub = NotificationHub(mongo, retry_seconds=1.0)
    await hub.start()
    subscription = listen(hub, "alice")
    try:
        await mongo["notifications"].insert_one({"member_id": "alice", "n": 1})
        assert [d["n"] for d in await take(subscription, 1)] == [1]
        await mongo.client.admin.command(
            {
                "configureFailPoint": "failCommand",
                "mode": {"times": 1},
                "data": {"failCommands": ["getMore"], "errorCode": 2},
            }
        )
        async with asyncio.timeout(10):
            while hub.restarts == 0:  # noqa: ASYNC110 - polling a counter the hub bumps
                await asyncio.sleep(0.02)
        # The stream is down now (it waits a second before resuming): these must still arrive.
        await mongo["notifications"].insert_many(
            [{"member_id": "alice", "n": i} for i in (2, 3, 4)]
        )
        assert [d["n"] for d in await take(subscription, 3)] == [2, 3, 4]
    finally:
        await mongo.client.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
        await hub.stop()


async def test_a_slow_subscriber_is_closed_not_the_hub(mongo: Mongo) -> None:
    hub = NotificationHub(mongo, capacity=2)
    await hub.start()
    try:
        slow, fine = listen(hub, "alice"), listen(hub, "bob")
        await mongo["notifications"].insert_many(
            [{"member_id": "alice", "n": i} for i in range(5)] + [{"member_id": "bob", "n": 9}]
        )
        assert [d["n"] for d in await take(fine, 1)] == [9]
        assert hub.subscriber_count == 1  # alice overflowed and was dropped; bob is still served
        with pytest.raises(SubscriberOverflow):
            await take(slow, 10)
        later = listen(hub, "bob")
        await mongo["notifications"].insert_one({"member_id": "bob", "n": 10})
        assert [d["n"] for d in await take(later, 1)] == [10]
    finally:
        await hub.stop()
