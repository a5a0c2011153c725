"""How many expiry warnings the program issued today (its own time zone), kept live for operators.

The count is the database's (an indexed count of today's warnings), taken again when the hub
(app/notifications/hub.py) sees a new warning inserted, at most once per RECOUNT_SECONDS however
many arrive: a burst from the worker costs one count, and the number is exact, never a running
tally that a warning inserted between the first count and the subscription could make off by one.
A new local day starts again from that day's count.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.clock import Clock
from app.db import Mongo
from app.notifications.hub import NotificationHub
from app.notifications.warnings import KIND

RECOUNT_SECONDS = 1.0


def local_day_start(now: datetime, zone: ZoneInfo) -> datetime:
    """The instant the local day holding `now` began, as an aware UTC datetime."""
    local = now.astimezone(zone)
    return datetime.combine(local.date(), time(), tzinfo=zone).astimezone(now.tzinfo)


async def count_warnings_since(mongo: Mongo, start: datetime) -> int:
    return await mongo["notifications"].count_documents(
        {"kind": KIND, "created_at": {"$gte": start}}
    )


async def warnings_today(
    mongo: Mongo, hub: NotificationHub, clock: Clock, zone: ZoneInfo
) -> AsyncGenerator[int, None]:
    """Today's count now, then again after new warnings (throttled) or at a new local day."""
    arrived = asyncio.Event()
    stop_listening = hub.listen(lambda document: _wake(arrived, document))  # before the count
    try:
        last = -1
        while True:
            arrived.clear()
            count = await count_warnings_since(mongo, local_day_start(clock.now(), zone))
            if count != last:
                last = count
                yield count
            await _until_warning_or_tomorrow(arrived, clock, zone)
            await asyncio.sleep(RECOUNT_SECONDS)  # a burst is counted once
    finally:
        stop_listening()


def _wake(arrived: asyncio.Event, document: dict[str, object]) -> None:
    if document.get("kind") == KIND:
        arrived.set()


async def _until_warning_or_tomorrow(arrived: asyncio.Event, clock: Clock, zone: ZoneInfo) -> None:
    now = clock.now()
    tomorrow = local_day_start(local_day_start(now, zone) + timedelta(hours=26), zone)
    try:
        async with asyncio.timeout(max((tomorrow - now).total_seconds(), 1.0)):
            await arrived.wait()
    except TimeoutError:
        return
