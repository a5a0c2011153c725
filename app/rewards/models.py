"""A reward of the catalog as stored in `rewards`."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class RewardKind(StrEnum):
    GOODS = "goods"
    COUPON = "coupon"


class Reward(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    id: str = Field(alias="_id")
    name: str = Field(min_length=1, max_length=120)
    description: str | None = None
    category: str | None = None
    kind: RewardKind = RewardKind.GOODS
    points_price: int = Field(gt=0)
    stock: int | None = Field(default=None, ge=0, description="Units left; None is unlimited.")
    per_member_limit: int | None = Field(default=None, gt=0)
    min_tier: str | None = None
    active: bool = True
    active_from: datetime | None = None
    active_until: datetime | None = None
    coupon_validity_days: int | None = Field(default=None, gt=0)
    coupon_batch: bool = False  # codes come from batches operators added (app/rewards/admin.py)


class RedemptionStatus(StrEnum):
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Redemption(BaseModel):
    """Points spent on a reward: one document in `redemptions`, with the coupon it issued if any."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    id: str = Field(alias="_id")
    member_id: str
    reward_id: str
    quantity: int = Field(gt=0)
    points: int = Field(gt=0)
    status: RedemptionStatus = RedemptionStatus.COMPLETED
    coupon_code: str | None = None
    coupon_expires_at: datetime | None = None
    entry_id: str | None = None
    created_at: datetime
