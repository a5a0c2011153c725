"""The partner API's services: registered partners, purchases and refunds, paying with points.

Partners (shops, tills, airlines) post what members bought and returned; every point moves through
app.ledger. A partner sees only what it posted: orders, refunds and holds are keyed by partner.
"""

from app.partners.apportion import RefundAsk
from app.partners.campaign_results import (
    CampaignNotFound,
    CampaignResults,
    GroupResults,
    Slice,
    read_campaign_results,
)
from app.partners.errors import (
    HoldNotFound,
    NotEnoughPoints,
    OffsetNotOffered,
    PartnerInactive,
    PartnerRefused,
)
from app.partners.members import MemberRef, partner_and_member
from app.partners.offsets import (
    Quote,
    capture_points,
    hold_points,
    member_balance,
    quote_offset,
    read_hold,
    release_points,
)
from app.partners.orders import Order, OrderLine, partner_order
from app.partners.purchase_input import LineInput, PurchaseRequest, parse_money
from app.partners.purchases import PurchaseResult, preview_earn, record_purchase
from app.partners.refunds import RefundedLine, RefundResult, partner_refund, record_refund
from app.partners.registry import (
    PARTNER_SCOPES,
    Partner,
    PartnerStatus,
    get_partner,
    granted,
    list_partners,
    register_partner,
    set_partner_status,
)

__all__ = [
    "CampaignNotFound",
    "CampaignResults",
    "GroupResults",
    "Slice",
    "read_campaign_results",
    "PARTNER_SCOPES",
    "HoldNotFound",
    "LineInput",
    "MemberRef",
    "NotEnoughPoints",
    "OffsetNotOffered",
    "Order",
    "OrderLine",
    "Partner",
    "PartnerInactive",
    "PartnerRefused",
    "PartnerStatus",
    "PurchaseRequest",
    "PurchaseResult",
    "Quote",
    "RefundAsk",
    "RefundResult",
    "RefundedLine",
    "capture_points",
    "get_partner",
    "granted",
    "hold_points",
    "list_partners",
    "member_balance",
    "parse_money",
    "partner_and_member",
    "partner_order",
    "partner_refund",
    "preview_earn",
    "quote_offset",
    "read_hold",
    "record_purchase",
    "record_refund",
    "register_partner",
    "release_points",
    "set_partner_status",
]
