"""The orders partners posted, as kept for their refunds (`orders` collection).

One document per (partner, order id), `_id` "<partner id>:<order id>" (unique: the idempotency of
recordPurchase). It keeps each line as bought (quantity, amount as a decimal string) with the
points it earned and what was refunded of it so far, the points earned by the whole order (rows
with no line: a fixed campaign bonus), the points that paid for it and what was given back, the
breakdown and the EARN entry. A partner reads only its own orders: every read names the partner
in the id, so another partner's order id is simply not found. An order id held or paid for with a
member's points before it is posted has a document with only its member (the binding:
app.partners.payments.claim_order), which is no order until a purchase fills it in: a read of an
order asks for POSTED.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from app.db import Document, Mongo
from app.ledger import BreakdownLine, Entry, member_entry
from app.partners.purchase_input import PurchaseRequest
from app.program import EarnResult, Purchase

POSTED: Document = {"request_hash": {"$exists": True}}  # an order, not only an order id's binding
BOUND: Document = {"request_hash": {"$exists": False}}  # only an order id's binding, no order yet


def order_id_of(partner_id: str, order_id: str) -> str:
    return f"{partner_id}:{order_id}"


@dataclass(frozen=True, slots=True)
class OrderFacts:
    key: str
    partner_id: str
    member_id: str
    request_hash: str
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class OrderLine:
    line_id: str
    quantity: int
    amount: Decimal
    earned: int
    refunded_quantity: int
    refunded_amount: Decimal
    reversed: int
    sku: str = ""
    category: str = ""


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    partner_id: str
    member_id: str
    total: int
    breakdown: tuple[BreakdownLine, ...]
    entry_id: str | None
    available_at: datetime | None
    pending: bool
    lines: tuple[OrderLine, ...]
    order_earned: int
    order_reversed: int
    points_used: int
    points_returned: int
    occurred_at: datetime
    recorded_at: datetime
    channel: str | None = None

    @classmethod
    def from_document(cls, doc: Document) -> Order:
        return cls(
            order_id=doc["order_id"],
            partner_id=doc["partner_id"],
            member_id=doc["member_id"],
            total=doc["total"],
            breakdown=tuple(
                BreakdownLine(r["rule"], r["description"], r["points"], r["line"], r["version"])
                for r in doc["breakdown"]
            ),
            entry_id=doc.get("entry_id"),
            available_at=doc.get("available_at"),
            pending=doc["pending"],
            lines=tuple(
                OrderLine(
                    line["line_id"],
                    line["quantity"],
                    Decimal(line["amount"]),
                    line["earned"],
                    line["refunded_quantity"],
                    Decimal(line["refunded_amount"]),
                    line["reversed"],
                    line.get("sku", ""),
                    line.get("category", ""),
                )
                for line in doc["lines"]
            ),
            order_earned=doc["order_earned"],
            order_reversed=doc["order_reversed"],
            points_used=doc["points_used"],
            points_returned=doc["points_returned"],
            occurred_at=doc["occurred_at"],
            recorded_at=doc["recorded_at"],
            channel=doc.get("channel"),
        )


def order_document(
    facts: OrderFacts,
    request: PurchaseRequest,
    purchase: Purchase,
    result: EarnResult,
    entry: Entry | None,
    available_at: datetime | None,
) -> Document:
    by_line = result.by_line()
    return {
        "_id": facts.key,
        "partner_id": facts.partner_id,
        "order_id": request.order_id.strip(),
        "member_id": facts.member_id,
        "channel": purchase.channel,
        "occurred_at": purchase.occurred_at,
        "recorded_at": facts.recorded_at,
        "request_hash": facts.request_hash,
        "lines": [
            {
                "line_id": line.line_id,
                "sku": line.sku,
                "category": line.category,
                "quantity": line.quantity,
                "amount": str(line.amount),
                "earned": by_line.get(line.line_id, 0),
                "refunded_quantity": 0,
                "refunded_amount": "0",
                "reversed": 0,
            }
            for line in purchase.lines
        ],
        "order_earned": by_line.get(None, 0),
        "order_reversed": 0,
        "points_used": request.points_used,
        "points_returned": 0,
        "total": result.total,
        "breakdown": [
            {
                "line": r.line_id,
                "rule": r.rule,
                "version": r.version,
                "points": r.points,
                "description": r.description,
            }
            for r in result.rows
        ],
        "entry_id": entry.id if entry else None,
        "available_at": available_at if entry else None,
        "pending": entry is not None
        and available_at is not None
        and available_at > facts.recorded_at,
        "version": 1,
    }


async def partner_order(
    mongo: Mongo, partner_id: str, order_id: str
) -> tuple[Order, Entry | None] | None:
    """The partner's own order with its EARN entry; another partner's is None, like a missing one
    (the id names the partner)."""
    document = await mongo["orders"].find_one({"_id": order_id_of(partner_id, order_id), **POSTED})
    if document is None:
        return None
    order = Order.from_document(document)
    entry = None
    if order.entry_id is not None:
        entry = await member_entry(mongo, order.member_id, order.entry_id)
    return order, entry
