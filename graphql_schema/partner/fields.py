"""The partner API's fields: thin resolvers that parse input, call one service, map the result."""

from __future__ import annotations

import strawberry
from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import PermissionExtension

from app.auth import PrincipalKind, actor_of
from app.partners import (
    HoldNotFound,
    capture_points,
    hold_points,
    member_balance,
    preview_earn,
    quote_offset,
    record_purchase,
    record_refund,
    register_partner,
    release_points,
)
from graphql_schema.context import Info
from graphql_schema.errors import InvalidInput
from graphql_schema.ids import from_global_id, to_global_id
from graphql_schema.member.ledger import LedgerEntry
from graphql_schema.partner.access import (
    PARTNER,
    PARTNER_ARGUMENTS,
    PartnerOrAdmin,
    caller_may_preview,
    partner_and_member,
    partner_id,
)
from graphql_schema.partner.types import (
    CapturePointsInput,
    CapturePointsPayload,
    EarnPreview,
    HoldPointsInput,
    HoldPointsPayload,
    MemberBalance,
    MemberRefInput,
    OffsetQuote,
    Partner,
    PartnerRefund,
    PointsHold,
    PurchaseEarn,
    RecordPurchaseInput,
    RecordPurchasePayload,
    RecordRefundInput,
    RecordRefundPayload,
    RegisterPartnerInput,
    RegisterPartnerPayload,
    components,
    condition_checks,
    refund_asks,
)
from graphql_schema.permissions import IsAdmin, IsPartner, require_principal
from graphql_schema.refusals import Refused, as_payload, as_query


def _hold_id(global_id: str) -> str:
    try:
        return from_global_id(global_id, "PointsHold")[1]
    except InvalidInput:
        raise HoldNotFound("no such hold") from None


async def resolve_record_purchase(info: Info, input: RecordPurchaseInput) -> RecordPurchasePayload:
    request = input.to_request()
    partner, member = await partner_and_member(info, "points:earn", request.member)
    runtime = info.context.runtime

    async def run() -> RecordPurchasePayload:
        result = await record_purchase(
            runtime.mongo, runtime.clock, partner, request, member=member
        )
        return RecordPurchasePayload(
            purchase=PurchaseEarn.of(result.order, result.entry), user_errors=[]
        )

    return await as_payload(
        run, lambda e: RecordPurchasePayload(purchase=None, user_errors=e), PARTNER
    )


async def resolve_record_refund(info: Info, input: RecordRefundInput) -> RecordRefundPayload:
    partner = await partner_id(info, "points:earn")
    runtime = info.context.runtime

    async def run() -> RecordRefundPayload:
        result = await record_refund(
            runtime.mongo,
            runtime.clock,
            partner,
            order_id=input.order_id,
            refund_id=input.refund_id,
            asks=refund_asks(input.lines),
        )
        return RecordRefundPayload(refund=PartnerRefund.of(result), user_errors=[])

    return await as_payload(run, lambda e: RecordRefundPayload(refund=None, user_errors=e), PARTNER)


async def resolve_hold_points(info: Info, input: HoldPointsInput) -> HoldPointsPayload:
    partner = await partner_id(info, "points:redeem")
    runtime = info.context.runtime

    async def run() -> HoldPointsPayload:
        hold = await hold_points(
            runtime.mongo,
            runtime.clock,
            partner,
            member=input.member.to_ref(),
            points=input.points,
            order_id=input.order_id,
            idempotency_key=input.idempotency_key,
            ttl_minutes=input.ttl_minutes,
        )
        return HoldPointsPayload(hold=PointsHold.of(hold), user_errors=[])

    return await as_payload(run, lambda e: HoldPointsPayload(hold=None, user_errors=e), PARTNER)


async def resolve_capture_points(info: Info, input: CapturePointsInput) -> CapturePointsPayload:
    partner = await partner_id(info, "points:redeem")
    runtime = info.context.runtime

    async def run() -> CapturePointsPayload:
        entry = await capture_points(
            runtime.mongo,
            runtime.clock,
            partner,
            hold_id=_hold_id(input.hold_id),
            idempotency_key=input.idempotency_key,
            points=input.points,
        )
        return CapturePointsPayload(entry=LedgerEntry.from_model(entry), user_errors=[])

    return await as_payload(run, lambda e: CapturePointsPayload(entry=None, user_errors=e), PARTNER)


async def resolve_release_points(info: Info, hold_id: strawberry.ID) -> HoldPointsPayload:
    partner = await partner_id(info, "points:redeem")
    runtime = info.context.runtime

    async def run() -> HoldPointsPayload:
        hold = await release_points(runtime.mongo, runtime.clock, partner, _hold_id(hold_id))
        return HoldPointsPayload(hold=PointsHold.of(hold), user_errors=[])

    return await as_payload(run, lambda e: HoldPointsPayload(hold=None, user_errors=e), PARTNER)


async def resolve_register_partner(
    info: Info, input: RegisterPartnerInput
) -> RegisterPartnerPayload:
    runtime = info.context.runtime

    async def run() -> RegisterPartnerPayload:
        partner = await register_partner(
            runtime.mongo,
            runtime.clock,
            name=input.name,
            scopes=input.scopes[:20],
            actor=actor_of(require_principal(info)),
            idempotency_key=input.idempotency_key,
        )
        return RegisterPartnerPayload(partner=Partner.of(partner), user_errors=[])

    return await as_payload(
        run, lambda e: RegisterPartnerPayload(partner=None, user_errors=e), PARTNER
    )


async def resolve_quote_offset(
    info: Info, member: MemberRefInput, order_amount: str
) -> OffsetQuote:
    await partner_id(info, "points:redeem")
    runtime = info.context.runtime
    return OffsetQuote.of(
        await as_query(
            lambda: quote_offset(runtime.mongo, runtime.clock, member.to_ref(), order_amount),
            PARTNER_ARGUMENTS,
        )
    )


async def resolve_member_balance(info: Info, member: MemberRefInput) -> MemberBalance | None:
    await partner_id(info, "points:read")
    runtime = info.context.runtime
    try:
        member_id, balance = await as_query(
            lambda: member_balance(runtime.mongo, runtime.clock, member.to_ref()), PARTNER_ARGUMENTS
        )
    except Refused as exc:
        if (exc.extensions or {}).get("code") == "NOT_FOUND":
            return None
        raise
    return MemberBalance.of(member_id, balance)


async def resolve_preview_earn(info: Info, input: RecordPurchaseInput) -> EarnPreview:
    request = input.to_request()
    named = await caller_may_preview(info, request.member)
    runtime = info.context.runtime
    principal = info.context.principal
    partner = principal.subject if principal and principal.kind is PrincipalKind.PARTNER else None
    member, result = await as_query(
        lambda: preview_earn(
            runtime.mongo, runtime.clock, request, member=named, partner_id=partner
        ),
        PARTNER,
    )
    return EarnPreview(
        member_id=strawberry.ID(to_global_id("Member", member.id)),
        total=result.total,
        breakdown=components(result),
        conditions=condition_checks(result),
    )


def _partner(scope: str) -> list[FieldExtension]:
    return [PermissionExtension(permissions=[IsPartner(scope)], use_directives=False)]


record_purchase_field = strawberry.mutation(
    resolver=resolve_record_purchase,
    extensions=_partner("points:earn"),
    description="Partners: post a purchase; the points by rule and line. Idempotent on orderId.",
)
record_refund_field = strawberry.mutation(
    resolver=resolve_record_refund,
    extensions=_partner("points:earn"),
    description="Partners: refund lines of an order: takes back what they earned, gives back "
    "what paid for them. Idempotent on refundId.",
)
hold_points_field = strawberry.mutation(
    resolver=resolve_hold_points,
    extensions=_partner("points:redeem"),
    description="Partners: reserve points to pay part of an order (积分抵扣) until the hold's TTL.",
)
capture_points_field = strawberry.mutation(
    resolver=resolve_capture_points,
    extensions=_partner("points:redeem"),
    description="Partners: redeem all or part of a hold; the rest goes back.",
)
release_points_field = strawberry.mutation(
    resolver=resolve_release_points,
    extensions=_partner("points:redeem"),
    description="Partners: give a hold's points back.",
)
register_partner_field = strawberry.mutation(
    resolver=resolve_register_partner,
    extensions=[PermissionExtension(permissions=[IsAdmin("partners:write")], use_directives=False)],
    description="Operators: register a partner and the scopes its tokens may carry.",
)
quote_offset_field = strawberry.field(
    resolver=resolve_quote_offset,
    extensions=_partner("points:redeem"),
    description="Partners: the most points a member may use on an order, and what they pay.",
)
member_balance_field = strawberry.field(
    resolver=resolve_member_balance,
    extensions=_partner("points:read"),
    description="Partners: a member's balances; null for no such member.",
)
preview_earn_field = strawberry.field(
    resolver=resolve_preview_earn,
    extensions=[
        PermissionExtension(
            permissions=[PartnerOrAdmin("points:earn", "program:read")], use_directives=False
        )
    ],
    description="What recordPurchase would give now, by rule and line; writes nothing.",
)
