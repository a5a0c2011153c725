"""Spending points on a reward: the redeemReward mutation and its typed refusals."""

from __future__ import annotations

import strawberry

from app.members import MemberNotFound
from app.program import ProgramNotConfigured
from app.rewards import LimitReached, NotEnoughPoints, OutOfStock, RedemptionRefused, redeem
from graphql_schema.context import Info
from graphql_schema.errors import InvalidInput, NotConfigured, Unauthenticated
from graphql_schema.ids import from_global_id
from graphql_schema.members import Member
from graphql_schema.permissions import MemberMutation, caller_member_id
from graphql_schema.rewards import Redemption
from graphql_schema.user_errors import (
    InsufficientPointsError,
    LimitReachedError,
    OutOfStockError,
    UserError,
    UserErrorCode,
    user_error,
)

MAX_KEY_LENGTH = 128


@strawberry.input
class RedeemRewardInput:
    reward_id: strawberry.ID
    quantity: int = 1
    idempotency_key: str = strawberry.field(
        description="Chosen by the client, one per intended redemption; a retry sends the same key."
    )


@strawberry.type
class RedeemRewardPayload:
    redemption: Redemption | None
    member: Member | None = strawberry.field(
        description="The member after the redemption, for client caches."
    )
    user_errors: list[UserError]


def _refusal(exc: RedemptionRefused) -> UserError:
    code = UserErrorCode[exc.code]
    field = list(exc.field) if exc.field else None
    if isinstance(exc, NotEnoughPoints):
        return InsufficientPointsError(
            code=code, message=str(exc), field=field, available=exc.available, required=exc.required
        )
    if isinstance(exc, OutOfStock):
        return OutOfStockError(code=code, message=str(exc), field=field, available=exc.available)
    if isinstance(exc, LimitReached):
        return LimitReachedError(
            code=code, message=str(exc), field=field, limit=exc.limit, redeemed=exc.redeemed
        )
    return user_error(code, str(exc), *(field or ()))


def _failed(error: UserError) -> RedeemRewardPayload:
    return RedeemRewardPayload(redemption=None, member=None, user_errors=[error])


async def redeem_reward_mutation(info: Info, input: RedeemRewardInput) -> RedeemRewardPayload:
    member_id = caller_member_id(info)
    key = input.idempotency_key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        message = f"the idempotency key must have 1 to {MAX_KEY_LENGTH} characters"
        return _failed(user_error(UserErrorCode.INVALID_INPUT, message, "input", "idempotencyKey"))
    try:
        _, reward_id = from_global_id(input.reward_id, "Reward")
    except InvalidInput:
        return _failed(
            user_error(UserErrorCode.INVALID_INPUT, "not a reward id", "input", "rewardId")
        )
    runtime = info.context.runtime
    try:
        redemption = await redeem(
            runtime.mongo,
            runtime.clock,
            member_id=member_id,
            reward_id=reward_id,
            quantity=input.quantity,
            idempotency_key=key,
        )
    except RedemptionRefused as exc:
        return _failed(_refusal(exc))
    except MemberNotFound:
        raise Unauthenticated("the member of this token does not exist") from None
    except ProgramNotConfigured:
        raise NotConfigured("the program has not been configured yet") from None
    return RedeemRewardPayload(
        redemption=Redemption.from_model(redemption),
        member=Member.of(member_id),
        user_errors=[],
    )


redeem_reward_field = strawberry.mutation(
    resolver=redeem_reward_mutation,
    permission_classes=[MemberMutation],
    description="Spend points on a reward. Replaying the same idempotencyKey returns the first result and spends nothing more.",
)
