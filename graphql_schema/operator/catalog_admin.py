"""Operators run the catalog (admin scopes catalog:read, catalog:write): rewards, stock, coupon
batches, cancelled redemptions; partners mark coupons used (scope points:redeem). The rules are
in app/rewards/admin.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import strawberry
from strawberry.permission import PermissionExtension
from strawberry.types.unset import UNSET

from app.auth import PrincipalKind, actor_of
from app.rewards import (
    CHANGEABLE,
    RedemptionStatus,
    RewardFields,
    RewardKind,
    add_coupon_batch,
    cancel_redemption,
    confirm_payment,
    create_reward,
    fail_payment,
    move_stock,
    refund_payment,
    search_redemptions,
    ship_from_csv,
    update_redemption,
    update_reward,
    use_coupon,
)
from app.rewards import Reward as RewardModel
from graphql_schema.context import Info
from graphql_schema.errors import InvalidInput
from graphql_schema.ids import from_global_id
from graphql_schema.member.rewards import (
    REDEMPTIONS,
    Redemption,
    RedemptionConnection,
    Reward,
)
from graphql_schema.partner.access import partner_id
from graphql_schema.permissions import (
    IsPartner,
    admin_scope,
    require_kind,
    require_principal,
)
from graphql_schema.refusals import as_payload, raw_id
from graphql_schema.relay import KEY, Connection, Cursor, connection, page_size
from graphql_schema.user_errors import UserError

READ, WRITE = "catalog:read", "catalog:write"
FULFILMENT = "fulfilment:write"  # a partner's fulfilment system (a warehouse, a 3PL)
REWARDS = Cursor("catalog", (KEY,))
T = TypeVar("T")
P = TypeVar("P")


@strawberry.input(description="A new reward; left out: unlimited stock, no limit, always on.")
class CreateRewardInput:
    name: str
    points_price: int
    kind: RewardKind = RewardKind.GOODS
    description: str | None = None
    category: str | None = None
    stock: int | None = None
    per_member_limit: int | None = None
    min_tier: str | None = strawberry.field(default=None, description="A tier code.")
    active_from: datetime | None = None
    active_until: datetime | None = None
    coupon_validity_days: int | None = None
    partner_id: str | None = strawberry.field(
        default=None, description="A PARTNER_VOUCHER's partner (its id): only its tills accept it."
    )
    idempotency_key: str
    cash_price: str | None = strawberry.field(
        default=None,
        description="GOODS only, 积分+现金: money paid with the points, a decimal string above 0 "
        "and at most 100000.00 with at most 2 decimals (19.90); redeeming then holds the points "
        "until a partner confirms the payment (confirmRedemptionPayment).",
    )
    ships: bool = strawberry.field(
        default=False,
        description="GOODS only: sent to the member, so redeeming takes a shipping address and "
        "the redemption is fulfilled afterwards (updateRedemption).",
    )
    low_stock_at: int | None = strawberry.field(
        default=None,
        description="Operators are told (event reward.low_stock, the audit log) when a redemption "
        "brings the stock down to this many units or fewer.",
    )


@strawberry.input(description="Fields left out stay; `active: false` archives the reward.")
class UpdateRewardInput:
    reward_id: strawberry.ID
    name: str | None = UNSET
    description: str | None = UNSET
    category: str | None = UNSET
    points_price: int | None = UNSET
    per_member_limit: int | None = UNSET
    min_tier: str | None = UNSET
    active_from: datetime | None = UNSET
    active_until: datetime | None = UNSET
    coupon_validity_days: int | None = UNSET
    low_stock_at: int | None = UNSET
    active: bool | None = UNSET


@strawberry.input(description="Add (positive) or remove stock, with why.")
class MoveStockInput:
    reward_id: strawberry.ID
    delta: int
    reason: str
    idempotency_key: str


@strawberry.input(description="Upload `codes`, or `generate` that many random ones.")
class AddCouponsInput:
    reward_id: strawberry.ID
    codes: list[str] | None = None
    generate: int | None = None
    idempotency_key: str


@strawberry.input
class CancelRedemptionInput:
    redemption_id: strawberry.ID
    reason: str


@strawberry.input(
    description="Move a redemption of goods that ship: PENDING to SHIPPED (carrier and "
    "trackingNumber, 4 to 40 letters, digits and hyphens) or CANCELLED; SHIPPED to DELIVERED or "
    "RETURNED; DELIVERED to RETURNED. CANCELLED and RETURNED give the points and stock back and "
    "need a reason (up to 500 characters). Once per idempotencyKey; a move to the status the "
    "redemption is in already, with the same carrier and number, changes nothing."
)
class UpdateRedemptionInput:
    redemption_id: strawberry.ID
    status: RedemptionStatus
    idempotency_key: str
    carrier: str | None = None
    tracking_number: str | None = None
    reason: str | None = None


@strawberry.input(
    description="A CSV of tracking numbers: a header with redemption_id (the Redemption's id), "
    "carrier and tracking_number, then one row per redemption to mark SHIPPED; up to 5,000 rows "
    "and 1,000,000 characters, UTF-8. Each row's move is keyed by idempotencyKey and its "
    "redemption, and a row shipped so already changes nothing: an upload sent again moves nothing."
)
class UploadTrackingNumbersInput:
    csv: str
    idempotency_key: str


@strawberry.type(description="A row of an upload that was refused: its line (the header is 1).")
class RefusedLine:
    line: int
    field: str = strawberry.field(description="The column at fault, or row.")
    message: str


@strawberry.type
class UploadTrackingNumbersPayload:
    shipped: int = strawberry.field(description="Redemptions marked SHIPPED by this upload.")
    unchanged: int = strawberry.field(description="Rows whose redemption was shipped so already.")
    refused: list[RefusedLine]
    user_errors: list[UserError]


@strawberry.input(
    description="The brand's payment of a points + cash redemption: name it by "
    "redemptionId or orderId."
)
class ConfirmRedemptionPaymentInput:
    payment_ref: str = strawberry.field(description="The payment's reference, 1 to 128 characters.")
    idempotency_key: str
    redemption_id: strawberry.ID | None = None
    order_id: str | None = None


@strawberry.input(description="The brand's payment failed: the held points and the stock go back.")
class FailRedemptionPaymentInput:
    reason: str
    redemption_id: strawberry.ID | None = None
    order_id: str | None = None


@strawberry.input(
    description="A refund of all or part of a points + cash redemption's money: amount is a "
    "decimal string (up to what is left to refund); the points come back in proportion."
)
class RefundRedemptionPaymentInput:
    amount: str
    refund_ref: str = strawberry.field(description="The refund's reference, 1 to 128 characters.")
    idempotency_key: str
    redemption_id: strawberry.ID | None = None
    order_id: str | None = None


@strawberry.input
class UseCouponInput:
    code: str
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="A till's retry of its own use with this key answers the redemption again "
        "(1 to 200 characters); without one, a second use is COUPON_USED.",
    )


@strawberry.type
class RewardAdminPayload:
    reward: Reward | None
    user_errors: list[UserError]


@strawberry.type
class AddCouponsPayload:
    reward: Reward | None
    added: int
    user_errors: list[UserError]


@strawberry.type
class RedemptionAdminPayload:
    redemption: Redemption | None
    user_errors: list[UserError]


CatalogConnection = Connection[Reward]


def _raw(global_id: str, kind: str, field: str) -> str:
    return raw_id(global_id, kind, field, kind)


async def _run(
    run: Callable[[], Awaitable[T]], ok: Callable[[T], P], failed: Callable[[list[UserError]], P]
) -> P:
    async def done() -> P:
        return ok(await run())

    return await as_payload(done, failed)


def _reward_payload(reward: RewardModel) -> RewardAdminPayload:
    return RewardAdminPayload(reward=Reward.from_model(reward), user_errors=[])


def _reward_failed(errors: list[UserError]) -> RewardAdminPayload:
    return RewardAdminPayload(reward=None, user_errors=errors)


async def create_reward_mutation(info: Info, input: CreateRewardInput) -> RewardAdminPayload:
    actor = actor_of(require_kind(info, PrincipalKind.ADMIN, WRITE))
    runtime = info.context.runtime
    fields = RewardFields(
        name=input.name,
        points_price=input.points_price,
        kind=input.kind,
        description=input.description,
        category=input.category,
        stock=input.stock,
        per_member_limit=input.per_member_limit,
        min_tier=input.min_tier,
        active_from=input.active_from,
        active_until=input.active_until,
        coupon_validity_days=input.coupon_validity_days,
        partner_id=input.partner_id,
        ships=input.ships,
        cash_price=input.cash_price,
        low_stock_at=input.low_stock_at,
    )
    return await _run(
        lambda: create_reward(
            runtime.mongo, runtime.clock, fields, idempotency_key=input.idempotency_key, actor=actor
        ),
        _reward_payload,
        _reward_failed,
    )


async def update_reward_mutation(info: Info, input: UpdateRewardInput) -> RewardAdminPayload:
    actor = actor_of(require_kind(info, PrincipalKind.ADMIN, WRITE))
    runtime = info.context.runtime
    changes = {n: getattr(input, n) for n in CHANGEABLE if getattr(input, n) is not UNSET}

    async def run() -> RewardModel:
        reward_id = _raw(input.reward_id, "Reward", "reward_id")
        return await update_reward(runtime.mongo, runtime.clock, reward_id, changes, actor=actor)

    return await _run(run, _reward_payload, _reward_failed)


async def move_stock_mutation(info: Info, input: MoveStockInput) -> RewardAdminPayload:
    actor = actor_of(require_kind(info, PrincipalKind.ADMIN, WRITE))
    runtime = info.context.runtime

    async def run() -> RewardModel:
        reward_id = _raw(input.reward_id, "Reward", "reward_id")
        return await move_stock(
            runtime.mongo,
            runtime.clock,
            reward_id,
            input.delta,
            reason=input.reason,
            idempotency_key=input.idempotency_key,
            actor=actor,
        )

    return await _run(run, _reward_payload, _reward_failed)


async def add_coupons_mutation(info: Info, input: AddCouponsInput) -> AddCouponsPayload:
    actor = actor_of(require_kind(info, PrincipalKind.ADMIN, WRITE))
    runtime = info.context.runtime

    async def run() -> tuple[RewardModel, int]:
        reward_id = _raw(input.reward_id, "Reward", "reward_id")
        return await add_coupon_batch(
            runtime.mongo,
            runtime.clock,
            reward_id,
            codes=input.codes,
            generate=input.generate,
            idempotency_key=input.idempotency_key,
            actor=actor,
        )

    return await _run(
        run,
        lambda done: AddCouponsPayload(
            reward=Reward.from_model(done[0]), added=done[1], user_errors=[]
        ),
        lambda e: AddCouponsPayload(reward=None, added=0, user_errors=e),
    )


def _redemption_ok(redemption: Any) -> RedemptionAdminPayload:
    return RedemptionAdminPayload(redemption=Redemption.from_model(redemption), user_errors=[])


def _redemption_failed(errors: list[UserError]) -> RedemptionAdminPayload:
    return RedemptionAdminPayload(redemption=None, user_errors=errors)


async def cancel_redemption_mutation(
    info: Info, input: CancelRedemptionInput
) -> RedemptionAdminPayload:
    actor = actor_of(require_kind(info, PrincipalKind.ADMIN, WRITE))
    runtime = info.context.runtime

    async def run() -> Any:
        redemption_id = _raw(input.redemption_id, "Redemption", "redemption_id")
        return await cancel_redemption(
            runtime.mongo, runtime.clock, redemption_id, reason=input.reason, actor=actor
        )

    return await _run(run, _redemption_ok, _redemption_failed)


async def update_redemption_mutation(
    info: Info, input: UpdateRedemptionInput
) -> RedemptionAdminPayload:
    actor = actor_of(require_kind(info, PrincipalKind.ADMIN, WRITE))
    return await _move_redemption(info, input, actor)


async def update_fulfilment_mutation(
    info: Info, input: UpdateRedemptionInput
) -> RedemptionAdminPayload:
    await partner_id(info, FULFILMENT)  # a registered, active partner granted the scope
    return await _move_redemption(info, input, actor_of(require_principal(info)))


async def _move_redemption(
    info: Info, input: UpdateRedemptionInput, actor: str
) -> RedemptionAdminPayload:
    runtime = info.context.runtime

    async def run() -> Any:
        return await update_redemption(
            runtime.mongo,
            runtime.clock,
            _raw(input.redemption_id, "Redemption", "redemption_id"),
            status=input.status,
            idempotency_key=input.idempotency_key,
            actor=actor,
            carrier=input.carrier,
            tracking_number=input.tracking_number,
            reason=input.reason,
        )

    return await _run(run, _redemption_ok, _redemption_failed)


def _redemption_of(cell: str) -> str | None:
    """A row's redemption id: the API's global id (or the raw id an export may carry)."""
    if cell.startswith("rd_") and len(cell) <= 64:
        return cell
    try:
        raw = from_global_id(cell, "Redemption")[1]
    except InvalidInput:
        return None
    return raw if len(raw) <= 64 else None


async def upload_tracking_numbers_mutation(
    info: Info, input: UploadTrackingNumbersInput
) -> UploadTrackingNumbersPayload:
    actor = actor_of(require_kind(info, PrincipalKind.ADMIN, WRITE))
    runtime = info.context.runtime

    async def run() -> UploadTrackingNumbersPayload:
        done = await ship_from_csv(
            runtime.mongo,
            runtime.clock,
            input.csv,
            idempotency_key=input.idempotency_key,
            actor=actor,
            redemption_id=_redemption_of,
        )
        refused = [RefusedLine(line=r.line, field=r.field, message=r.message) for r in done.refused]
        return UploadTrackingNumbersPayload(
            shipped=done.shipped, unchanged=done.unchanged, refused=refused, user_errors=[]
        )

    return await as_payload(
        run,
        lambda e: UploadTrackingNumbersPayload(shipped=0, unchanged=0, refused=[], user_errors=e),
    )


def _optional_redemption(global_id: strawberry.ID | None) -> str | None:
    return None if global_id is None else _raw(global_id, "Redemption", "redemption_id")


PaymentWrite = Callable[[str, str | None], Awaitable[Any]]
"""One write of a points + cash redemption's payment, given the calling partner's actor and the
redemption's raw id (None when named by its order id)."""


async def _payment_write(
    info: Info, redemption_id: strawberry.ID | None, write: PaymentWrite
) -> RedemptionAdminPayload:
    """The brand's payment system (a partner with points:redeem) acting on a redemption."""
    await partner_id(info, "points:redeem")
    actor = actor_of(require_principal(info))

    async def run() -> Any:  # a malformed id is refused in the payload, as the write's refusals
        return await write(actor, _optional_redemption(redemption_id))

    return await _run(run, _redemption_ok, _redemption_failed)


async def confirm_payment_mutation(
    info: Info, input: ConfirmRedemptionPaymentInput
) -> RedemptionAdminPayload:
    runtime = info.context.runtime
    return await _payment_write(
        info,
        input.redemption_id,
        lambda actor, raw: confirm_payment(
            runtime.mongo,
            runtime.clock,
            redemption_id=raw,
            order_id=input.order_id,
            payment_ref=input.payment_ref,
            idempotency_key=input.idempotency_key,
            actor=actor,
        ),
    )


async def fail_payment_mutation(
    info: Info, input: FailRedemptionPaymentInput
) -> RedemptionAdminPayload:
    runtime = info.context.runtime
    return await _payment_write(
        info,
        input.redemption_id,
        lambda actor, raw: fail_payment(
            runtime.mongo,
            runtime.clock,
            redemption_id=raw,
            order_id=input.order_id,
            reason=input.reason,
            actor=actor,
        ),
    )


async def refund_payment_mutation(
    info: Info, input: RefundRedemptionPaymentInput
) -> RedemptionAdminPayload:
    runtime = info.context.runtime
    return await _payment_write(
        info,
        input.redemption_id,
        lambda actor, raw: refund_payment(
            runtime.mongo,
            runtime.clock,
            redemption_id=raw,
            order_id=input.order_id,
            amount=input.amount,
            refund_ref=input.refund_ref,
            idempotency_key=input.idempotency_key,
            actor=actor,
        ),
    )


async def use_coupon_mutation(info: Info, input: UseCouponInput) -> RedemptionAdminPayload:
    partner = await partner_id(info, "points:redeem")  # a registered, active partner
    actor = actor_of(require_principal(info))
    runtime = info.context.runtime
    return await _run(
        lambda: use_coupon(
            runtime.mongo,
            runtime.clock,
            input.code,
            partner_id=partner,
            actor=actor,
            idempotency_key=input.idempotency_key,
        ),
        _redemption_ok,
        _redemption_failed,
    )


async def resolve_catalog(
    info: Info, first: int = 20, after: str | None = None
) -> CatalogConnection:
    """Every reward, archived or not, by id."""
    start = REWARDS.decode(after)[0] if after is not None else None
    limit = page_size(first)
    query = {"_id": {"$gt": start}} if start is not None else {}
    cursor = info.context.runtime.mongo["rewards"].find(query).sort("_id", 1).limit(limit + 1)
    found = [RewardModel.model_validate(d) async for d in cursor]
    return connection(
        found[:limit],
        has_next=len(found) > limit,
        after=after,
        cursor=lambda r: REWARDS.encode(r.id),
        node=Reward.from_model,
    )


@strawberry.input(description="Which redemptions: of a member, of a reward, of a status.")
class RedemptionFilterInput:
    member_id: strawberry.ID | None = None
    reward_id: strawberry.ID | None = None
    status: RedemptionStatus | None = None


def _filter_id(global_id: strawberry.ID | None, kind: str, field: str) -> str | None:
    if global_id is None:
        return None
    try:
        return from_global_id(global_id, kind)[1]
    except InvalidInput:
        raise InvalidInput(f"not a {kind} id", field=f"filter.{field}") from None


async def resolve_redemptions(
    info: Info,
    first: int = 20,
    after: str | None = None,
    filter: RedemptionFilterInput | None = None,
) -> RedemptionConnection:
    """Operators: redemptions newest first, of one member or reward or status (to cancel one,
    to answer a member or a supplier)."""
    limit = page_size(first)
    key = REDEMPTIONS.decode(after) if after is not None else None
    wanted = filter or RedemptionFilterInput()
    found, more = await search_redemptions(
        info.context.runtime.mongo,
        first=limit,
        after=key,
        member_id=_filter_id(wanted.member_id, "Member", "memberId"),
        reward_id=_filter_id(wanted.reward_id, "Reward", "reward_id"),
        status=wanted.status.value if wanted.status is not None else None,
    )
    return connection(
        found,
        has_next=more,
        after=after,
        node=Redemption.from_model,
        cursor=lambda r: REDEMPTIONS.encode(r.created_at, r.id),
    )


redemptions_field = strawberry.field(
    resolver=resolve_redemptions,
    extensions=admin_scope(READ),
    description="Operators: redemptions, newest first, by member, reward or status (catalog:read).",
)
catalog_field = strawberry.field(
    resolver=resolve_catalog,
    extensions=admin_scope(READ),
    description="Operators: every reward, archived ones too, with stock (catalog:read).",
)
create_reward_field = strawberry.mutation(
    resolver=create_reward_mutation,
    extensions=admin_scope(WRITE),
    description="Operators: add a reward to the catalog (catalog:write); a key replays.",
)
update_reward_field = strawberry.mutation(
    resolver=update_reward_mutation,
    extensions=admin_scope(WRITE),
    description="Operators: change, archive (active: false) or restore a reward (catalog:write).",
)
move_stock_field = strawberry.mutation(
    resolver=move_stock_mutation,
    extensions=admin_scope(WRITE),
    description="Operators: add or remove stock, never below zero, once per key (catalog:write).",
)
add_coupons_field = strawberry.mutation(
    resolver=add_coupons_mutation,
    extensions=admin_scope(WRITE),
    description="Operators: upload or generate a coupon batch; each code is issued once.",
)
cancel_redemption_field = strawberry.mutation(
    resolver=cancel_redemption_mutation,
    extensions=admin_scope(WRITE),
    description="Operators: cancel a redemption: points back (REVERSAL), stock back, coupon void; "
    "a used coupon cannot be cancelled (COUPON_USED).",
)
update_redemption_field = strawberry.mutation(
    resolver=update_redemption_mutation,
    extensions=admin_scope(WRITE),
    description="Operators: move a redemption of goods that ship (SHIPPED with its tracking "
    "number, DELIVERED, CANCELLED or RETURNED with the points and stock back); catalog:write. "
    "An illegal move is ILLEGAL_TRANSITION.",
)
update_fulfilment_field = strawberry.mutation(
    resolver=update_fulfilment_mutation,
    extensions=[PermissionExtension(permissions=[IsPartner(FULFILMENT)], use_directives=False)],
    description="Partners: a fulfilment system moves a redemption of goods that ship, as "
    "updateRedemption does (scope fulfilment:write).",
)
upload_tracking_numbers_field = strawberry.mutation(
    resolver=upload_tracking_numbers_mutation,
    extensions=admin_scope(WRITE),
    description="Operators: mark redemptions SHIPPED from a CSV of tracking numbers "
    "(catalog:write); each refused row is reported by its line, the others go on.",
)
confirm_payment_field = strawberry.mutation(
    resolver=confirm_payment_mutation,
    extensions=[
        PermissionExtension(permissions=[IsPartner("points:redeem")], use_directives=False)
    ],
    description="Partners: the brand was paid for a points + cash redemption: its held points are "
    "captured and it completes (scope points:redeem). The same paymentRef again answers it; "
    "another payment, or one after the points were released, is PAYMENT_REFUSED.",
)
fail_payment_field = strawberry.mutation(
    resolver=fail_payment_mutation,
    extensions=[
        PermissionExtension(permissions=[IsPartner("points:redeem")], use_directives=False)
    ],
    description="Partners: the payment of a points + cash redemption failed: the held points and "
    "the stock go back, it is CANCELLED (scope points:redeem).",
)
refund_payment_field = strawberry.mutation(
    resolver=refund_payment_mutation,
    extensions=[
        PermissionExtension(permissions=[IsPartner("points:redeem")], use_directives=False)
    ],
    description="Partners: refund all or part of a points + cash redemption's money: the points "
    "come back in proportion, under their original expiry (scope points:redeem); past what is "
    "left is OVER_REFUND.",
)
use_coupon_field = strawberry.mutation(
    resolver=use_coupon_mutation,
    extensions=[
        PermissionExtension(permissions=[IsPartner("points:redeem")], use_directives=False)
    ],
    description="Partners: mark a coupon used at the till (scope points:redeem); once only.",
)
