"""A partner reads back what it made: its orders, holds and refunds, by its own ids.

Each needs points:read or the scope that made it (points:earn for orders and refunds,
points:redeem for holds). Another partner's order, hold or refund is null, exactly like a missing
one: every read names the calling partner in the id it looks up.
"""

from __future__ import annotations

import strawberry
from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import PermissionExtension

from app.partners import partner_order, partner_refund, read_hold
from graphql_schema.context import Info
from graphql_schema.errors import InvalidInput
from graphql_schema.ids import from_global_id
from graphql_schema.partner.access import PartnerWithAny, partner_id
from graphql_schema.partner.types import PartnerOrder, PartnerRefund, PointsHold

ORDERS = ("points:read", "points:earn")
HOLDS = ("points:read", "points:redeem")
ID_MAX = 128  # the longest order or refund id a partner can have used


async def resolve_partner_order(info: Info, order_id: str) -> PartnerOrder | None:
    partner = await partner_id(info, *ORDERS)
    runtime = info.context.runtime
    if not 0 < len(order_id) <= ID_MAX:
        return None
    found = await partner_order(runtime.mongo, partner, order_id.strip())
    return None if found is None else PartnerOrder.of(*found, runtime.clock.now())


async def resolve_hold(info: Info, id: strawberry.ID) -> PointsHold | None:
    partner = await partner_id(info, *HOLDS)
    runtime = info.context.runtime
    try:
        hold_id = from_global_id(id, "PointsHold")[1]
    except InvalidInput:
        return None
    found = await read_hold(runtime.mongo, runtime.clock, partner, hold_id)
    return None if found is None else PointsHold.of(found)


async def resolve_refund(info: Info, order_id: str, refund_id: str) -> PartnerRefund | None:
    partner = await partner_id(info, *ORDERS)
    if not (0 < len(order_id) <= ID_MAX and 0 < len(refund_id) <= ID_MAX):
        return None
    found = await partner_refund(
        info.context.runtime.mongo, partner, order_id.strip(), refund_id.strip()
    )
    return None if found is None else PartnerRefund.of(found)


def _reading(*scopes: str) -> list[FieldExtension]:
    return [PermissionExtension(permissions=[PartnerWithAny(*scopes)], use_directives=False)]


partner_order_field = strawberry.field(
    resolver=resolve_partner_order,
    extensions=_reading(*ORDERS),
    description="Partners: one of your orders by your order id, with its lines, what its refunds "
    "took back and the points that paid for it; null if you have none by that id.",
)
hold_field = strawberry.field(
    resolver=resolve_hold,
    extensions=_reading(*HOLDS),
    description="Partners: one of your holds as it stands now; null if you have none by that id.",
)
refund_field = strawberry.field(
    resolver=resolve_refund,
    extensions=_reading(*ORDERS),
    description="Partners: one of your refunds, by its order id and refund id (refund ids are "
    "yours, per order); null if you have none by those ids.",
)
