"""Devices, consent, the in-app list and read marks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.clock import FrozenClock
from app.db import Mongo
from app.notifications.service import (
    MAX_DEVICES,
    InvalidPushToken,
    PushPlatform,
    list_notifications,
    mark_notifications_read,
    register_push_token,
    set_notification_consent,
    unregister_push_token,
)


@pytest.fixture
async def member(mongo: Mongo) -> str:
    await mongo["members"].insert_one({"_id": "m1", "member_no": "JF1"})
    return "m1"


async def test_devices_are_deduplicated_and_bounded(
    mongo: Mongo, clock: FrozenClock, member: str
) -> None:
    for i in range(MAX_DEVICES + 3):
        await register_push_token(mongo, clock, member, PushPlatform.IOS, f"device-token-{i}")
    await register_push_token(mongo, clock, member, PushPlatform.IOS, "device-token-12")
    document = await mongo["members"].find_one({"_id": member})
    assert document is not None
    tokens = [t["token"] for t in document["push_tokens"]]
    assert (
        len(tokens) == MAX_DEVICES
        and tokens[-1] == "device-token-12"
        and len(set(tokens)) == MAX_DEVICES
    )
    assert await unregister_push_token(mongo, member, "device-token-12")
    assert not await unregister_push_token(mongo, member, "device-token-12")
    with pytest.raises(InvalidPushToken):
        await register_push_token(mongo, clock, member, PushPlatform.ANDROID, "short")


async def test_consent_is_recorded_with_its_time(
    mongo: Mongo, clock: FrozenClock, member: str
) -> None:
    await set_notification_consent(mongo, clock, member, True)
    document = await mongo["members"].find_one({"_id": member})
    assert document is not None and document["consents"] == {
        "notifications": True,
        "notifications_at": clock.now(),
    }


async def test_list_pages_newest_first_and_marks_read(
    mongo: Mongo, clock: FrozenClock, member: str
) -> None:
    at = clock.now()
    await mongo["notifications"].insert_many(
        [
            {
                "member_id": member,
                "kind": "expiry_warning",
                "points": i,
                "created_at": at + timedelta(minutes=i // 2),
                "read_at": None,
            }
            for i in range(7)
        ]
        + [
            {
                "member_id": "other",
                "kind": "expiry_warning",
                "points": 99,
                "created_at": at,
                "read_at": None,
            }
        ]
    )
    seen, after, more = [], None, True
    while more:
        page, more = await list_notifications(mongo, member, first=3, after=after)
        seen += [n.points for n in page]
        after = (page[-1].created_at, page[-1].id)
    assert sorted(seen) == list(range(7)) and len(seen) == 7
    assert seen[0] == 6
    first, _ = await list_notifications(mongo, member, first=2)
    assert await mark_notifications_read(mongo, clock, member, [first[0].id]) == 1
    assert await mark_notifications_read(mongo, clock, member) == 6
    assert (
        await mongo["notifications"].count_documents({"member_id": "other", "read_at": None}) == 1
    )
