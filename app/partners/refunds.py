"""recordRefund: take back exactly what the refunded lines earned, give back what paid for them.

One transaction (app.ledger.run_in_ledger): the order is read, the refund planned from its stored
breakdown (app.partners.apportion), the order's refunded quantities, amounts and points written
under its version (two refunds of one order at once: one reruns and plans on the other's result),
the refund recorded under its unique id `<partner>:<order>:<refund id>`, the points reversed from
the order's EARN entry (app.ledger's refund rule: its own lot first, then the member's other
points, then debt; expired or cleared points are not taken again), and the points that paid for
the order given back in proportion through the captures that took them (app.partners.payments):
to the member they were taken from, as a REVERSAL whose lots keep the terms of the lots the points
came from (not an EARN: they were earned once already, so they neither count as lifetime earnings
nor as qualifying points; points whose expiry passed since stay expired). A replayed refund id
returns the first refund and changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError, PyMongoError

from app.bounds import MAX_KEY_LENGTH
from app.clock import Clock
from app.db import Document, Mongo
from app.ledger import Entry, LedgerUnit, run_in_ledger
from app.ledger import IdempotencyConflict as LedgerConflict
from app.members import record_qualifying
from app.partners.apportion import RefundAsk, RefundPlan, plan_refund
from app.partners.errors import (
    IdempotencyConflict,
    InvalidPartnerInput,
    OrderNotFound,
    PartnerRefused,
)
from app.partners.orders import POSTED, Order, order_id_of
from app.partners.payments import give_back
from app.partners.purchase_input import MAX_LINES, check_order_id, check_text
from app.program import current_program


@dataclass(frozen=True, slots=True)
class RefundedLine:
    """What one refund took of one line: units, money and the points they had earned."""

    line_id: str
    quantity: int
    amount: Decimal
    points: int


@dataclass(frozen=True, slots=True)
class RefundResult:
    order_id: str
    refund_id: str
    points_reversed: int
    points_returned: int
    reversal_entry_id: str | None
    credit_entry_id: str | None
    amount: Decimal
    recorded_at: datetime
    lines: tuple[RefundedLine, ...]  # none for refunds recorded before lines were kept

    @classmethod
    def from_document(cls, document: Document) -> RefundResult:
        return cls(
            document["order_id"],
            document["refund_id"],
            document["points_reversed"],
            document["points_returned"],
            document["reversal_entry_id"],
            document["credit_entry_id"],
            Decimal(document["amount"]),
            document["recorded_at"],
            tuple(
                RefundedLine(
                    line["line_id"], line["quantity"], Decimal(line["amount"]), line["points"]
                )
                for line in document.get("lines", [])
            ),
        )


class StaleOrder(PyMongoError):
    def __init__(self, order_key: str) -> None:
        super().__init__(
            f"order {order_key} changed during the refund",
            error_labels=["TransientTransactionError"],
        )


def refund_key_of(order_key: str, refund_id: str) -> str:
    """A refund's id: unique per order of a partner (refund ids are the partner's, per order)."""
    return f"{order_key}:{refund_id}"


def _digest(order_id: str, asks: tuple[RefundAsk, ...]) -> str:
    body = [
        order_id,
        [
            [a.line_id, a.quantity, None if a.amount is None else f"{a.amount.normalize():f}"]
            for a in asks
        ],
    ]
    return hashlib.sha256(json.dumps(body).encode()).hexdigest()


def check_refund(order_id: str, refund_id: str, asks: tuple[RefundAsk, ...]) -> tuple[str, str]:
    if not 1 <= len(asks) <= MAX_LINES:
        raise InvalidPartnerInput(f"a refund has 1 to {MAX_LINES} lines", ("lines",))
    return check_order_id(order_id), check_text(refund_id, ("refund_id",), MAX_KEY_LENGTH)


async def record_refund(
    mongo: Mongo,
    clock: Clock,
    partner_id: str,
    *,
    order_id: str,
    refund_id: str,
    asks: tuple[RefundAsk, ...],
) -> RefundResult:
    order_id, refund_id = check_refund(order_id, refund_id, asks)
    order_key = order_id_of(partner_id, order_id)
    refund_key = refund_key_of(order_key, refund_id)
    digest = _digest(order_id, asks)
    program = await current_program(mongo)

    async def work(unit: LedgerUnit) -> RefundResult:
        document = await mongo["orders"].find_one(
            {"_id": order_key, **POSTED}, session=unit.session
        )
        if document is None:  # or only bound to a member by a hold: no order yet
            raise OrderNotFound("no such order")
        order = Order.from_document(document)
        plan = plan_refund(order, asks)
        await _write_order(mongo, unit.session, document, plan)
        reversal, credit = await _move_points(mongo, unit, order, plan, refund_id)
        # The refunded points leave the qualifying window with the purchase they came from.
        await record_qualifying(
            mongo,
            unit.session,
            unit.now,
            program,
            member_id=order.member_id,
            points=-plan.points_reversed,
            at=document["occurred_at"],
            entry_id=reversal.id if reversal else None,
        )
        record = {
            "_id": refund_key,
            "partner_id": partner_id,
            "order_id": order_id,
            "refund_id": refund_id,
            "member_id": order.member_id,
            "request_hash": digest,
            "amount": str(plan.amount),
            "points_reversed": plan.points_reversed,
            "points_returned": plan.points_returned,
            "reversal_entry_id": reversal.id if reversal else None,
            "credit_entry_id": credit.id if credit else None,
            "recorded_at": unit.now,
            "lines": _refunded_lines(order, plan),
        }
        await mongo["refunds"].insert_one(record, session=unit.session)
        return RefundResult.from_document(record)

    async def replay(first: Entry) -> RefundResult:
        return await _first_refund(mongo, refund_key, digest)

    try:
        return await run_in_ledger(
            mongo,
            clock,
            work,
            idempotency_key=f"partner:{refund_key}",
            fingerprint=digest,
            replay=replay,
            require_entry=False,
        )
    except LedgerConflict:
        raise IdempotencyConflict(
            "this refund id was used for another refund", ("refund_id",)
        ) from None
    except (DuplicateKeyError, PartnerRefused):
        # A refund that moved no points has no entry to find it by: its own record answers.
        if await mongo["refunds"].find_one({"_id": refund_key}, {"_id": 1}) is None:
            raise
        return await _first_refund(mongo, refund_key, digest)


def _refunded_lines(order: Order, plan: RefundPlan) -> list[Document]:
    return [
        {
            "line_id": after.line_id,
            "quantity": after.refunded_quantity - before.refunded_quantity,
            "amount": str(after.refunded_amount - before.refunded_amount),
            "points": after.reversed - before.reversed,
        }
        for before, after in zip(order.lines, plan.lines, strict=True)
        if after.refunded_amount != before.refunded_amount
        or after.refunded_quantity != before.refunded_quantity
    ]


async def partner_refund(
    mongo: Mongo, partner_id: str, order_id: str, refund_id: str
) -> RefundResult | None:
    """The partner's own refund of its order; another partner's is None, like a missing one."""
    key = refund_key_of(order_id_of(partner_id, order_id), refund_id)
    document = await mongo["refunds"].find_one({"_id": key})
    return None if document is None else RefundResult.from_document(document)


async def _write_order(
    mongo: Mongo, session: AsyncClientSession, document: Document, plan: RefundPlan
) -> None:
    lines = [
        {
            **stored,
            "refunded_quantity": line.refunded_quantity,
            "refunded_amount": str(line.refunded_amount),
            "reversed": line.reversed,
        }
        for stored, line in zip(document["lines"], plan.lines, strict=True)
    ]
    changes = {
        "lines": lines,
        "order_reversed": document["order_reversed"] + plan.order_reversed,
        "points_returned": document["points_returned"] + plan.points_returned,
        "version": document["version"] + 1,
    }
    result = await mongo["orders"].update_one(
        {"_id": document["_id"], "version": document["version"]},
        {"$set": changes},
        session=session,
    )
    if result.matched_count != 1:
        raise StaleOrder(document["_id"])


async def _move_points(
    mongo: Mongo, unit: LedgerUnit, order: Order, plan: RefundPlan, refund_id: str
) -> tuple[Entry | None, Entry | None]:
    reversal = credit = None
    if plan.points_reversed > 0 and order.entry_id is not None:
        reversal = await unit.reverse(
            order.entry_id,
            plan.points_reversed,
            reference=order.order_id,
            actor=f"partner:{order.partner_id}",
            channel="partner",
            extra={"refund_id": refund_id},
        )
    if plan.points_returned > 0:
        given = await give_back(
            mongo,
            unit,
            order_id_of(order.partner_id, order.order_id),
            plan.points_returned,
            reason=f"Points that paid for order {order.order_id} given back (refund {refund_id})",
            actor=f"partner:{order.partner_id}",
            reference=order.order_id,
            extra={"refund_id": refund_id},
        )
        credit = given[0] if given else None
    return reversal, credit


async def _first_refund(mongo: Mongo, refund_key: str, digest: str) -> RefundResult:
    document = await mongo["refunds"].find_one({"_id": refund_key})
    assert document is not None, "a refund's entry always has its refund"
    if document["request_hash"] != digest:
        raise IdempotencyConflict("this refund id was used for another refund", ("refund_id",))
    return RefundResult.from_document(document)
