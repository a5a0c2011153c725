"""The reward catalog (积分商城) and the member's redemptions."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.rewards import Redemption as RedemptionModel
from app.rewards import RedemptionStatus, RewardKind, list_redemptions, list_rewards
from app.rewards import Reward as RewardModel
from app.rewards import ShippingAddress as ShippingAddressModel
from graphql_schema.context import Info
from graphql_schema.ids import to_global_id
from graphql_schema.relay import (
    COUNT,
    INSTANT,
    KEY,
    Connection,
    Cursor,
    Node,
    connection,
    page_size,
)

REWARDS = Cursor("rewards", (COUNT, KEY))  # (points price, id)
REDEMPTIONS = Cursor("redemptions", (INSTANT, KEY))  # (created at, id)


strawberry.enum(RewardKind)


@strawberry.type
class Reward(Node):
    name: str
    description: str | None
    category: str | None
    kind: RewardKind
    points_price: int
    stock: int | None = strawberry.field(description="Units left; null when unlimited.")
    per_member_limit: int | None = strawberry.field(
        description="Most units one member may redeem; null when unlimited."
    )
    min_tier_code: str | None = strawberry.field(
        description="Code of the lowest tier that may redeem it; null when every tier may."
    )
    available_until: datetime | None = strawberry.field(
        description="When the reward leaves the catalog, if it is scheduled to."
    )
    available_from: datetime | None = strawberry.field(
        default=None, description="When the reward enters the catalog, if it is scheduled to."
    )
    active: bool = strawberry.field(default=True, description="False: archived by an operator.")
    partner_name: str | None = strawberry.field(
        default=None, description="A partner voucher: the partner whose tills accept its code."
    )
    cash_price: str | None = strawberry.field(
        default=None,
        description="积分+现金: the money paid with pointsPrice, a decimal string (19.90).",
    )
    cash_currency: str | None = strawberry.field(default=None, description="With cashPrice: CNY.")
    ships: bool = strawberry.field(
        default=False,
        description="Goods sent to the member: redeeming takes a shippingAddress, and the "
        "redemption moves PENDING, SHIPPED, DELIVERED (or CANCELLED, RETURNED).",
    )

    @classmethod
    def from_model(cls, reward: RewardModel) -> Reward:
        return cls(
            id=strawberry.ID(to_global_id("Reward", reward.id)),
            name=reward.name,
            description=reward.description,
            category=reward.category,
            kind=reward.kind,
            points_price=reward.points_price,
            stock=reward.stock,
            per_member_limit=reward.per_member_limit,
            min_tier_code=reward.min_tier,
            available_until=reward.active_until,
            available_from=reward.active_from,
            active=reward.active,
            partner_name=reward.partner_name,
            ships=reward.ships,
            cash_price=reward.cash_price,
            cash_currency=reward.cash_price and reward.cash_currency,
        )


RewardConnection = Connection[Reward]


async def resolve_rewards(
    info: Info, first: int, after: str | None = None, category: str | None = None
) -> RewardConnection:
    limit = page_size(first)
    key = REWARDS.decode(after) if after is not None else None
    runtime = info.context.runtime
    rewards, has_next = await list_rewards(
        runtime.mongo, runtime.clock, first=limit, after=key, category=category
    )
    return connection(
        rewards,
        has_next=has_next,
        after=after,
        cursor=lambda reward: REWARDS.encode(reward.points_price, reward.id),
        node=Reward.from_model,
    )


strawberry.enum(RedemptionStatus)


@strawberry.type(description="Where goods are sent.")
class ShippingAddress:
    name: str
    phone: str
    line1: str
    line2: str | None
    city: str
    region: str = strawberry.field(description="Province or region.")
    postal_code: str
    country: str = strawberry.field(description="ISO 3166-1 alpha-2, e.g. CN.")

    @classmethod
    def from_model(cls, address: ShippingAddressModel | None) -> ShippingAddress | None:
        return None if address is None else cls(**address.model_dump())


@strawberry.input(
    description="Where goods are sent: name up to 64 characters, phone 5 to 32 (digits, spaces, "
    "+ ( ) -), line1 and line2 up to 200, city and region up to 64, postalCode up to 16 "
    "(letters, digits, spaces, -), country two letters (ISO 3166-1 alpha-2)."
)
class ShippingAddressInput:
    name: str
    phone: str
    line1: str
    city: str
    region: str
    postal_code: str
    country: str
    line2: str | None = None

    def raw(self) -> dict[str, str | None]:
        return dict(vars(self))


@strawberry.type
class Redemption(Node):
    model: strawberry.Private[RedemptionModel]
    quantity: int
    points: int
    status: RedemptionStatus
    coupon_code: str | None = strawberry.field(description="Set when the reward is a coupon.")
    coupon_expires_at: datetime | None = strawberry.field(
        description="Until when the coupon can be used; set when the reward is a coupon."
    )
    created_at: datetime
    shipping_address: ShippingAddress | None = strawberry.field(
        default=None, description="Goods that ship: where they are sent."
    )
    carrier: str | None = strawberry.field(default=None, description="Set once SHIPPED.")
    tracking_number: str | None = strawberry.field(default=None, description="Set once SHIPPED.")
    status_changed_at: datetime | None = strawberry.field(
        default=None, description="When the status last moved after the redemption."
    )
    order_id: str | None = strawberry.field(
        default=None,
        description="积分+现金: the order the brand's checkout collects cashTotal for; the "
        "points are held (AWAITING_PAYMENT) until the payment is confirmed or paymentDueAt.",
    )
    cash_total: str | None = strawberry.field(default=None, description="积分+现金: the money.")
    cash_currency: str | None = None
    cash_refunded: str | None = strawberry.field(
        default=None, description="积分+现金: the money refunded so far."
    )
    points_refunded: int = strawberry.field(
        default=0, description="积分+现金: the points those refunds gave back."
    )
    payment_due_at: datetime | None = strawberry.field(
        default=None, description="积分+现金: when the held points are released unpaid."
    )

    @strawberry.field(description="The member who redeemed.")  # type: ignore[untyped-decorator]
    def member_id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("Member", self.model.member_id))

    @strawberry.field
    async def reward(self, info: Info) -> Reward:
        reward = await info.context.rewards.load(self.model.reward_id)
        if reward is None:  # a reward is never deleted while redemptions point at it
            raise LookupError(f"redemption {self.model.id} has no reward {self.model.reward_id}")
        return Reward.from_model(reward)

    @classmethod
    def from_model(cls, redemption: RedemptionModel) -> Redemption:
        return cls(
            id=strawberry.ID(to_global_id("Redemption", redemption.id)),
            model=redemption,
            quantity=redemption.quantity,
            points=redemption.points,
            status=redemption.status,
            coupon_code=redemption.coupon_code,
            coupon_expires_at=redemption.coupon_expires_at,
            created_at=redemption.created_at,
            shipping_address=ShippingAddress.from_model(redemption.shipping_address),
            carrier=redemption.carrier,
            tracking_number=redemption.tracking_number,
            status_changed_at=redemption.status_changed_at,
            order_id=redemption.order_id,
            cash_total=redemption.cash_total,
            cash_currency=redemption.cash_currency,
            payment_due_at=redemption.payment_due_at,
            cash_refunded=redemption.cash_refunded,
            points_refunded=redemption.points_refunded,
        )


RedemptionConnection = Connection[Redemption]


async def redemptions_page(
    info: Info, member_id: str, first: int, after: str | None
) -> RedemptionConnection:
    limit = page_size(first)
    key = REDEMPTIONS.decode(after) if after is not None else None
    redemptions, has_next = await list_redemptions(
        info.context.runtime.mongo, member_id, first=limit, after=key
    )
    return connection(
        redemptions,
        has_next=has_next,
        after=after,
        cursor=lambda r: REDEMPTIONS.encode(r.created_at, r.id),
        node=Redemption.from_model,
    )
