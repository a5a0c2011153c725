"""Spending points on a reward: the redeemReward mutation and its typed refusals."""

from __future__ import annotations

import strawberry

from app.bounds import MAX_KEY_LENGTH, KeyOutOfBounds
from app.rewards import InvalidAddress, check_address, get_address, redeem
from graphql_schema.context import Info
from graphql_schema.member.members import Member
from graphql_schema.member.rewards import Redemption, ShippingAddressInput
from graphql_schema.permissions import MemberMutation, caller_member_id
from graphql_schema.refusals import as_payload, raw_id
from graphql_schema.user_errors import UserError


@strawberry.input
class RedeemRewardInput:
    reward_id: strawberry.ID
    quantity: int = 1
    idempotency_key: str = strawberry.field(
        description="Chosen by the client, one per intended redemption; a retry sends the same key."
    )
    shipping_address: ShippingAddressInput | None = strawberry.field(
        default=None, description="Required for a reward that ships; refused for any other."
    )
    address_id: strawberry.ID | None = strawberry.field(
        default=None, description="Instead of shippingAddress: one of the member's saved addresses."
    )


@strawberry.type
class RedeemRewardPayload:
    redemption: Redemption | None
    member: Member | None = strawberry.field(
        description="The member after the redemption, for client caches."
    )
    user_errors: list[UserError]


def _failed(errors: list[UserError]) -> RedeemRewardPayload:
    return RedeemRewardPayload(redemption=None, member=None, user_errors=errors)


async def redeem_reward_mutation(info: Info, input: RedeemRewardInput) -> RedeemRewardPayload:
    member_id = caller_member_id(info)
    runtime = info.context.runtime

    async def run() -> RedeemRewardPayload:
        key = input.idempotency_key.strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            message = f"the idempotency key must have 1 to {MAX_KEY_LENGTH} characters"
            raise KeyOutOfBounds(message)
        address = input.shipping_address
        shipping = None if address is None else check_address(address.raw())
        if input.address_id is not None:
            if shipping is not None:
                raise InvalidAddress("a shippingAddress or an addressId, not both", ("address_id",))
            shipping = await get_address(runtime.mongo, member_id, str(input.address_id))
        redemption = await redeem(
            runtime.mongo,
            runtime.clock,
            member_id=member_id,
            reward_id=raw_id(input.reward_id, "Reward", "reward_id", "reward"),
            quantity=input.quantity,
            idempotency_key=key,
            shipping_address=shipping,
        )
        return RedeemRewardPayload(
            redemption=Redemption.from_model(redemption),
            member=Member.of(member_id),
            user_errors=[],
        )

    return await as_payload(run, _failed)


redeem_reward_field = strawberry.mutation(
    resolver=redeem_reward_mutation,
    permission_classes=[MemberMutation],
    description="Spend points on a reward. Replaying the same idempotencyKey returns the first result and spends nothing more.",
)
