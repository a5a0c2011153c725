"""The live warning stream: what was issued and still matters first, then each new warning, once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import Rolling, earn
from app.notifications import NotificationHub, expiry_warning_stream, issue_expiry_warnings


@pytest.fixture
async def hub(mongo: Mongo) -> AsyncIterator[NotificationHub]:
    running = NotificationHub(mongo)
    await running.start()
    yield running
    await running.stop()


async def test_stream_sends_issued_then_new_warnings(
    mongo: Mongo, hub: NotificationHub, clock: FrozenClock
) -> None:
    await earn(
        mongo, clock, member_id="m1", points=100, idempotency_key="e1", policy=Rolling(days=20)
    )
    await earn(
        mongo, clock, member_id="m2", points=900, idempotency_key="e2", policy=Rolling(days=20)
    )
    await issue_expiry_warnings(mongo, clock)
    stream = expiry_warning_stream(mongo, hub, clock, "m1")
    first = await asyncio.wait_for(anext(stream), 5)
    assert (first.points, first.days_left, first.lead_days) == (100, 20, 30)

    clock.advance(timedelta(days=14))
    await issue_expiry_warnings(mongo, clock)  # the 7-day warning for m1 (and for m2, not ours)
    second = await asyncio.wait_for(anext(stream), 5)
    assert (second.member_id, second.points, second.days_left, second.lead_days) == (
        "m1",
        100,
        6,
        7,
    )
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(stream), 1.5)
    await stream.aclose()
    assert hub.subscriber_count == 0
