"""The partner API's GraphQL types and inputs: purchases, refunds, holds, balances, partners."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum

import strawberry

from app.ledger import Balance, Entry, Hold, HoldStatus
from app.partners import (
    LineInput,
    MemberRef,
    Order,
    OrderLine,
    PartnerStatus,
    PurchaseRequest,
    Quote,
    RefundAsk,
    RefundedLine,
    RefundResult,
    parse_money,
)
from app.partners import Partner as PartnerModel
from app.program import EarnResult
from graphql_schema.errors import InvalidInput
from graphql_schema.ids import from_global_id, to_global_id
from graphql_schema.member.ledger import EarnComponent, LedgerEntry, as_int
from graphql_schema.user_errors import UserError


@strawberry.input(description="Exactly one of id (a Member id), memberNo or phone.")
class MemberRefInput:
    id: strawberry.ID | None = None
    member_no: str | None = None
    phone: str | None = None

    def to_ref(self) -> MemberRef:
        raw = None
        if self.id is not None:
            try:
                raw = from_global_id(self.id, "Member")[1]
            except InvalidInput:
                raw = ""  # matches no member
        return MemberRef(raw, self.member_no, self.phone)


@strawberry.input
class PurchaseLineInput:
    line_id: str
    sku: str
    category: str
    quantity: int
    amount: str = strawberry.field(description='The line\'s total, a decimal string: "128.50".')


@strawberry.input
class RecordPurchaseInput:
    member: MemberRefInput
    order_id: str = strawberry.field(description="Yours, unique per order: the idempotency key.")
    occurred_at: datetime = strawberry.field(
        description="When the purchase happened; may lie in the past within the program's limit."
    )
    lines: list[PurchaseLineInput]
    channel: str | None = None
    points_used: int = strawberry.field(
        default=0, description="Points captured for this order that paid part of it."
    )
    store_id: str | None = strawberry.field(
        default=None, description="The store the purchase was made in (1 to 64 characters)."
    )
    payment_method: str | None = strawberry.field(
        default=None, description="How it was paid, as your system names it (1 to 32 characters)."
    )

    def to_request(self) -> PurchaseRequest:
        return PurchaseRequest(
            member=self.member.to_ref(),
            order_id=self.order_id,
            occurred_at=self.occurred_at,
            lines=tuple(
                LineInput(line.line_id, line.sku, line.category, line.quantity, line.amount)
                for line in self.lines
            ),
            channel=self.channel,
            points_used=self.points_used,
            store_id=self.store_id,
            payment_method=self.payment_method,
        )


@strawberry.input
class RefundLineInput:
    line_id: str
    quantity: int | None = None
    amount: str | None = strawberry.field(default=None, description="A decimal string.")


@strawberry.input
class RecordRefundInput:
    order_id: str
    refund_id: str = strawberry.field(description="Yours, unique per refund of the order.")
    lines: list[RefundLineInput]


@strawberry.input
class HoldPointsInput:
    member: MemberRefInput
    points: int
    order_id: str
    idempotency_key: str
    ttl_minutes: int | None = None


@strawberry.input
class CapturePointsInput:
    hold_id: strawberry.ID
    idempotency_key: str
    points: int | None = strawberry.field(default=None, description="Default: all of the hold.")


@strawberry.input
class RegisterPartnerInput:
    name: str
    scopes: list[str]
    idempotency_key: str = strawberry.field(
        description="Chosen by the operator's tool; a retry with it returns the first partner."
    )


@strawberry.enum
class EarnStatus(Enum):
    PENDING = "PENDING"
    AVAILABLE = "AVAILABLE"
    NONE = "NONE"


def components(rows: EarnResult | Order) -> list[EarnComponent]:
    if isinstance(rows, Order):
        return [
            EarnComponent(
                rule=r.rule,
                description=r.description,
                points=as_int(r.points),
                line_id=r.line,
                rule_version=r.version,
            )
            for r in rows.breakdown
        ]
    return [
        EarnComponent(
            rule=r.rule,
            description=r.description,
            points=as_int(r.points),
            line_id=r.line_id,
            rule_version=r.version,
        )
        for r in rows.rows
    ]


PointsHoldStatus = strawberry.enum(HoldStatus, name="PointsHoldStatus")
PartnerStatusEnum = strawberry.enum(PartnerStatus, name="PartnerStatus")


@strawberry.type
class PurchaseEarn:
    order_id: str
    member_id: strawberry.ID
    total: int
    breakdown: list[EarnComponent]
    status: EarnStatus = strawberry.field(description="NONE when the purchase earned nothing.")
    available_at: datetime | None = strawberry.field(
        description="When pending points become spendable."
    )
    entry: LedgerEntry | None

    @classmethod
    def of(cls, order: Order, entry: Entry | None) -> PurchaseEarn:
        status = EarnStatus.NONE
        if entry is not None:
            status = EarnStatus.PENDING if order.pending else EarnStatus.AVAILABLE
        return cls(
            order_id=order.order_id,
            member_id=strawberry.ID(to_global_id("Member", order.member_id)),
            total=as_int(order.total),
            breakdown=components(order),
            status=status,
            available_at=order.available_at if order.pending else None,
            entry=LedgerEntry.from_model(entry) if entry else None,
        )


@strawberry.type
class EarnPreview:
    member_id: strawberry.ID
    total: int
    breakdown: list[EarnComponent]
    conditions: list[ConditionCheck] = strawberry.field(
        description="Every rule's and campaign's condition as checked on each line (lineId "
        "null: the order), whether it matched, and the part that decided it."
    )


@strawberry.type(description="A rule's or campaign's condition, checked on a line or the order.")
class ConditionCheck:
    line_id: str | None
    rule: str = strawberry.field(description='"rule:<id>" or "campaign:<id>".')
    matched: bool
    reason: str = strawberry.field(
        description='The part that decided it: "channel in [app]", "not (weekday in [6, 7])".'
    )


def condition_checks(result: EarnResult) -> list[ConditionCheck]:
    return [
        ConditionCheck(line_id=c.line_id, rule=c.rule, matched=c.held, reason=c.reason)
        for c in result.checks
    ]


@strawberry.type
class PartnerRefundLine:
    line_id: str
    quantity: int = strawberry.field(description="Units this refund took back.")
    amount: str = strawberry.field(description="Money this refund took back, a decimal string.")
    points_reversed: int = strawberry.field(description="Points of the line it took back.")

    @classmethod
    def of(cls, line: RefundedLine) -> PartnerRefundLine:
        return cls(
            line_id=line.line_id,
            quantity=line.quantity,
            amount=_money(line.amount),
            points_reversed=line.points,
        )


@strawberry.type
class PartnerRefund:
    order_id: str
    refund_id: str
    points_reversed: int = strawberry.field(description="Points the refunded lines had earned.")
    points_returned: int = strawberry.field(description="Points that paid for them, given back.")
    amount: str = strawberry.field(description="Money refunded, a decimal string.")
    recorded_at: datetime
    lines: list[PartnerRefundLine] = strawberry.field(
        description="By line (empty for refunds recorded before lines were kept)."
    )

    @classmethod
    def of(cls, result: RefundResult) -> PartnerRefund:
        return cls(
            order_id=result.order_id,
            refund_id=result.refund_id,
            points_reversed=result.points_reversed,
            points_returned=result.points_returned,
            amount=_money(result.amount),
            recorded_at=result.recorded_at,
            lines=[PartnerRefundLine.of(line) for line in result.lines],
        )


@strawberry.type
class PartnerOrderLine:
    line_id: str
    sku: str
    category: str
    quantity: int
    amount: str = strawberry.field(description="The line's total, a decimal string.")
    points_earned: int
    refunded_quantity: int
    refunded_amount: str
    points_reversed: int = strawberry.field(description="Points its refunds took back so far.")

    @classmethod
    def of(cls, line: OrderLine) -> PartnerOrderLine:
        return cls(
            line_id=line.line_id,
            sku=line.sku,
            category=line.category,
            quantity=line.quantity,
            amount=_money(line.amount),
            points_earned=line.earned,
            refunded_quantity=line.refunded_quantity,
            refunded_amount=_money(line.refunded_amount),
            points_reversed=line.reversed,
        )


@strawberry.type(description="An order as the partner posted it, and what its refunds took back.")
class PartnerOrder:
    order_id: str
    member_id: strawberry.ID
    occurred_at: datetime
    recorded_at: datetime
    channel: str | None
    lines: list[PartnerOrderLine]
    total: int = strawberry.field(description="Points the order earned.")
    order_points: int = strawberry.field(
        description="Of them, earned by the whole order (no line)."
    )
    points_reversed: int = strawberry.field(description="Points its refunds took back so far.")
    points_used: int = strawberry.field(description="Points that paid for part of it.")
    points_returned: int = strawberry.field(description="Of them, given back by its refunds.")
    status: EarnStatus = strawberry.field(description="Now: NONE when it earned nothing.")
    available_at: datetime | None = strawberry.field(
        description="When its points become (or became) spendable."
    )
    breakdown: list[EarnComponent]
    entry: LedgerEntry | None

    @classmethod
    def of(cls, order: Order, entry: Entry | None, now: datetime) -> PartnerOrder:
        status = EarnStatus.NONE
        if order.entry_id is not None:
            pending = order.available_at is not None and order.available_at > now
            status = EarnStatus.PENDING if pending else EarnStatus.AVAILABLE
        return cls(
            order_id=order.order_id,
            member_id=strawberry.ID(to_global_id("Member", order.member_id)),
            occurred_at=order.occurred_at,
            recorded_at=order.recorded_at,
            channel=order.channel,
            lines=[PartnerOrderLine.of(line) for line in order.lines],
            total=order.total,
            order_points=order.order_earned,
            points_reversed=sum(line.reversed for line in order.lines) + order.order_reversed,
            points_used=order.points_used,
            points_returned=order.points_returned,
            status=status,
            available_at=order.available_at if order.entry_id is not None else None,
            breakdown=components(order),
            entry=LedgerEntry.from_model(entry) if entry else None,
        )


def _money(value: Decimal) -> str:
    return f"{value.normalize():f}"


@strawberry.type
class PointsHold:
    id: strawberry.ID
    points: int
    captured: int
    status: PointsHoldStatus  # type: ignore[valid-type]
    expires_at: datetime
    order_id: str | None

    @classmethod
    def of(cls, hold: Hold) -> PointsHold:
        return cls(
            id=strawberry.ID(to_global_id("PointsHold", hold.id)),
            points=hold.points,
            captured=hold.captured,
            status=hold.status,
            expires_at=hold.expires_at,
            order_id=hold.reference,
        )


@strawberry.type
class OffsetQuote:
    points: int = strawberry.field(description="The most points the member may use now.")
    value: str = strawberry.field(description="What those points pay, a decimal string.")
    point_value: str
    available: int

    @classmethod
    def of(cls, quote: Quote) -> OffsetQuote:
        return cls(
            points=quote.points,
            value=f"{quote.value.normalize():f}",
            point_value=f"{quote.point_value.normalize():f}",
            available=quote.available,
        )


@strawberry.type
class MemberBalance:
    member_id: strawberry.ID
    available: int
    pending: int
    held: int
    debt: int
    next_expiry_at: datetime | None
    next_expiry_points: int | None

    @classmethod
    def of(cls, member_id: str, balance: Balance) -> MemberBalance:
        nxt = balance.next_expiry
        return cls(
            member_id=strawberry.ID(to_global_id("Member", member_id)),
            available=as_int(balance.available),
            pending=as_int(balance.pending),
            held=as_int(balance.held),
            debt=as_int(balance.debt),
            next_expiry_at=nxt.expires_at if nxt else None,
            next_expiry_points=as_int(nxt.points) if nxt else None,
        )


@strawberry.type
class Partner:
    id: str
    name: str
    scopes: list[str]
    status: PartnerStatusEnum  # type: ignore[valid-type]
    created_at: datetime

    @classmethod
    def of(cls, partner: PartnerModel) -> Partner:
        return cls(
            id=partner.id,
            name=partner.name,
            scopes=sorted(partner.scopes),
            status=partner.status,
            created_at=partner.created_at,
        )


@strawberry.type
class RecordPurchasePayload:
    purchase: PurchaseEarn | None
    user_errors: list[UserError]


@strawberry.type
class RecordRefundPayload:
    refund: PartnerRefund | None
    user_errors: list[UserError]


@strawberry.type
class HoldPointsPayload:
    hold: PointsHold | None
    user_errors: list[UserError]


@strawberry.type
class CapturePointsPayload:
    entry: LedgerEntry | None
    user_errors: list[UserError]


@strawberry.type
class RegisterPartnerPayload:
    partner: Partner | None
    user_errors: list[UserError]


def refund_asks(lines: list[RefundLineInput]) -> tuple[RefundAsk, ...]:

    return tuple(
        RefundAsk(
            line.line_id,
            line.quantity,
            None if line.amount is None else parse_money(line.amount, ("lines", str(n), "amount")),
        )
        for n, line in enumerate(lines[:101])
    )
