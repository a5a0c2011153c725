"""A reward of the catalog as stored in `rewards`."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.bounds import MAX_ENTRY_POINTS, MAX_STOCK


class RewardKind(StrEnum):
    GOODS = "goods"
    COUPON = "coupon"  # a code the brand's own tills accept
    PARTNER_VOUCHER = "partner_voucher"  # a code one partner accepts (a cinema, a lounge)

    @property
    def coded(self) -> bool:
        """Redeemed one at a time for a code that a till marks used once."""
        return self is not RewardKind.GOODS


class Reward(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    id: str = Field(alias="_id")
    name: str = Field(min_length=1, max_length=120)
    description: str | None = None
    category: str | None = None
    kind: RewardKind = RewardKind.GOODS
    points_price: int = Field(gt=0, le=MAX_ENTRY_POINTS)
    stock: int | None = Field(
        default=None, ge=0, le=MAX_STOCK, description="Units left; None is unlimited."
    )
    per_member_limit: int | None = Field(default=None, gt=0, le=1_000_000)
    min_tier: str | None = None
    active: bool = True
    active_from: datetime | None = None
    active_until: datetime | None = None
    coupon_validity_days: int | None = Field(default=None, gt=0, le=3660)
    coupon_batch: bool = False  # codes come from batches operators added (app/rewards/admin.py)
    partner_id: str | None = None  # a partner voucher's partner: the only one that accepts it
    partner_name: str | None = None
    ships: bool = False  # goods sent to the member: an address at redemption, then fulfilment
    cash_price: str | None = (
        None  # 积分+现金: money paid with the points ("19.90"), app/rewards/cash.py
    )
    cash_currency: str = "CNY"
    # Operators are told (event reward.low_stock and the audit log) when a redemption brings the
    # stock down to this many units or fewer: time to upload the partner's next batch of codes.
    low_stock_at: int | None = Field(default=None, ge=1, le=MAX_STOCK)

    @model_validator(mode="after")
    def _voucher_has_its_partner(self) -> Reward:
        if (self.kind is RewardKind.PARTNER_VOUCHER) != (self.partner_id is not None):
            raise ValueError("a partner voucher names its partner, and only a partner voucher does")
        if self.ships and self.kind is not RewardKind.GOODS:
            raise ValueError("only goods ship")
        if self.cash_price is not None and self.kind is not RewardKind.GOODS:
            raise ValueError("only goods are priced in points and cash")
        return self


class RedemptionStatus(StrEnum):
    COMPLETED = "completed"  # coupons, vouchers and goods that do not ship: done as redeemed
    CANCELLED = "cancelled"
    PENDING = "pending"  # goods that ship (app/rewards/fulfilment.py): waiting to be sent
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    RETURNED = "returned"
    AWAITING_PAYMENT = "awaiting_payment"  # points + cash: points held until the brand is paid


class ShippingAddress(BaseModel):
    """Where goods are sent; each field bounded (app/rewards/fulfilment.py checks them by name
    before any write)."""

    model_config = ConfigDict(frozen=True)

    name: str
    phone: str
    line1: str
    line2: str | None = None
    city: str
    region: str
    postal_code: str
    country: str


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
    voucher_partner_id: str | None = None  # only this partner's till accepts the code
    entry_id: str | None = None
    created_at: datetime
    shipping_address: ShippingAddress | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    status_changed_at: datetime | None = None
    # points + cash (app/rewards/cash.py): the hold, the brand's order, the money and its payment
    hold_id: str | None = None
    order_id: str | None = None
    cash_total: str | None = None
    cash_currency: str | None = None
    payment_ref: str | None = None
    payment_due_at: datetime | None = None
    cash_refunded: str | None = None  # the money refunded so far
    points_refunded: int = 0  # the points those refunds gave back (exact: the last takes the rest)
    redeem_key: str | None = None
    request_fingerprint: str | None = None
