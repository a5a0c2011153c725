"""Reading the catalog: the active rewards page by page (cheapest first), and rewards by id."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.clock import Clock
from app.db import Mongo
from app.rewards.models import Reward

PAGE_MAX = 100


def active_filter(now: datetime) -> dict[str, Any]:
    """Active flag set and `now` inside the optional [active_from, active_until) window."""
    return {
        "active": True,
        "$and": [
            {"$or": [{"active_from": None}, {"active_from": {"$lte": now}}]},
            {"$or": [{"active_until": None}, {"active_until": {"$gt": now}}]},
        ],
    }


def is_active(reward: Reward, now: datetime) -> bool:
    if not reward.active:
        return False
    if reward.active_from is not None and now < reward.active_from:
        return False
    return reward.active_until is None or now < reward.active_until


async def list_rewards(
    mongo: Mongo,
    clock: Clock,
    *,
    first: int,
    after: tuple[int, str] | None = None,
    category: str | None = None,
) -> tuple[list[Reward], bool]:
    """One page of active rewards after the (points_price, id) key; and whether more follow."""
    query = active_filter(clock.now())
    if category is not None:
        query["category"] = category
    if after is not None:
        price, reward_id = after
        query["$or"] = [
            {"points_price": {"$gt": price}},
            {"points_price": price, "_id": {"$gt": reward_id}},
        ]
    limit = max(0, min(first, PAGE_MAX))
    cursor = mongo["rewards"].find(query).sort([("points_price", 1), ("_id", 1)]).limit(limit + 1)
    rewards = [Reward.model_validate(document) async for document in cursor]
    return rewards[:limit], len(rewards) > limit


async def get_rewards(mongo: Mongo, reward_ids: Sequence[str]) -> list[Reward | None]:
    """Rewards in the order asked (None for an unknown id), in one query: the DataLoader's batch."""
    found = {
        document["_id"]: Reward.model_validate(document)
        async for document in mongo["rewards"].find({"_id": {"$in": list(set(reward_ids))}})
    }
    return [found.get(reward_id) for reward_id in reward_ids]
