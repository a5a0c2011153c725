"""The partner API over GraphQL: purchases, refunds, paying with points, balances, partners."""

from graphql_schema.partner.fields import (
    capture_points_field,
    hold_points_field,
    member_balance_field,
    preview_earn_field,
    quote_offset_field,
    record_purchase_field,
    record_refund_field,
    register_partner_field,
    release_points_field,
)
from graphql_schema.partner.queries import hold_field, partner_order_field, refund_field
from graphql_schema.partner.types import (
    CapturePointsPayload,
    EarnPreview,
    HoldPointsPayload,
    MemberBalance,
    OffsetQuote,
    PartnerOrder,
    PartnerRefund,
    PointsHold,
    RecordPurchasePayload,
    RecordRefundPayload,
    RegisterPartnerPayload,
)

__all__ = [
    "CapturePointsPayload",
    "EarnPreview",
    "HoldPointsPayload",
    "MemberBalance",
    "OffsetQuote",
    "PartnerOrder",
    "PartnerRefund",
    "PointsHold",
    "RecordPurchasePayload",
    "RecordRefundPayload",
    "RegisterPartnerPayload",
    "capture_points_field",
    "hold_field",
    "hold_points_field",
    "member_balance_field",
    "partner_order_field",
    "preview_earn_field",
    "quote_offset_field",
    "record_purchase_field",
    "record_refund_field",
    "refund_field",
    "register_partner_field",
    "release_points_field",
]
