"""A purchase as a partner posts it, checked against its bounds and the program before anything is read.

Every value a till sends is bounded: at most MAX_LINES lines, ids and codes of at most ID_MAX
characters, quantities and amounts in range with at most four decimals (money is Decimal, never
float). `occurred_at` may lie up to the program's `backdate_days` in the past (offline tills,
flights credited later) but not in the future beyond FUTURE_SKEW (a till's clock runs a little
fast). The fingerprint tells a replay (same payload) from another purchase under the same order id.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from app.bounds import MAX_ENTRY_POINTS, has_control, trim_invisible
from app.ledger import instant
from app.partners.errors import InvalidPartnerInput
from app.partners.members import MemberRef
from app.program import Program, Purchase, PurchaseLine

MAX_LINES = 100
ID_MAX = 64
ORDER_ID_MAX = 128
MAX_QUANTITY = 1_000_000
MAX_AMOUNT = Decimal("1000000000000")
FUTURE_SKEW = timedelta(minutes=5)
MONEY = re.compile(r"[0-9]{1,13}(?:\.[0-9]{1,4})?", re.ASCII)


@dataclass(frozen=True, slots=True)
class LineInput:
    line_id: str
    sku: str
    category: str
    quantity: int
    amount: str  # as the client sent it: parsed by check_purchase


@dataclass(frozen=True, slots=True)
class PurchaseRequest:
    member: MemberRef
    order_id: str
    occurred_at: datetime
    lines: tuple[LineInput, ...]
    channel: str | None = None
    points_used: int = 0
    store_id: str | None = None
    payment_method: str | None = None


def parse_money(raw: str, field: tuple[str, ...]) -> Decimal:
    """Plain ASCII digits with an optional point and up to four decimals, as a till prints them.

    Decimal() alone is too lenient for money on the wire: it takes "1_000", " 10", "1e3" and
    other scripts' digits ("٣"), each a different amount than a person reading the request sees.
    """
    if MONEY.fullmatch(raw) is not None and (value := Decimal(raw)) <= MAX_AMOUNT:
        return value
    raise InvalidPartnerInput(
        "an amount is a decimal string from 0 to 10^12 with at most 4 decimals", field
    )


def check_text(value: str, field: tuple[str, ...], limit: int = ID_MAX) -> str:
    """An id, code or key a till sends, spaces at its ends trimmed: 1 to `limit` characters,
    something visible among them (not only zero-width spaces or marks), no control character."""
    cleaned = value.strip()
    if not trim_invisible(cleaned) or len(cleaned) > limit:
        raise InvalidPartnerInput(f"give 1 to {limit} characters", field)
    if has_control(cleaned):
        raise InvalidPartnerInput("no control characters", field)
    return cleaned


def check_order_id(order_id: str) -> str:
    return check_text(order_id, ("order_id",), ORDER_ID_MAX)


def check_lines(lines: tuple[LineInput, ...]) -> tuple[PurchaseLine, ...]:
    if not 1 <= len(lines) <= MAX_LINES:
        raise InvalidPartnerInput(f"an order has 1 to {MAX_LINES} lines", ("lines",))
    checked = []
    for n, line in enumerate(lines):
        at = ("lines", str(n))
        if not 1 <= line.quantity <= MAX_QUANTITY:
            raise InvalidPartnerInput(f"a quantity is 1 to {MAX_QUANTITY}", (*at, "quantity"))
        checked.append(
            PurchaseLine(
                line_id=check_text(line.line_id, (*at, "lineId")),
                sku=check_text(line.sku, (*at, "sku")),
                category=check_text(line.category, (*at, "category")),
                quantity=line.quantity,
                amount=parse_money(line.amount, (*at, "amount")),
            )
        )
    if len({line.line_id for line in checked}) != len(checked):
        raise InvalidPartnerInput("line ids must be unique", ("lines",))
    return tuple(checked)


def check_purchase(request: PurchaseRequest) -> Purchase:
    """The purchase the rules engine reads; InvalidPartnerInput names the field at fault."""
    check_order_id(request.order_id)
    if request.occurred_at.tzinfo is None:
        raise InvalidPartnerInput("occurredAt needs a UTC offset", ("occurred_at",))
    if request.channel is not None:
        check_text(request.channel, ("channel",), 32)
    store = None if request.store_id is None else check_text(request.store_id, ("store_id",))
    payment = request.payment_method
    if payment is not None:
        payment = check_text(payment, ("payment_method",), 32)
    if not 0 <= request.points_used <= MAX_ENTRY_POINTS:
        raise InvalidPartnerInput("pointsUsed is 0 or more", ("points_used",))
    request.member.query()
    return Purchase(
        check_lines(request.lines),
        instant(request.occurred_at),
        request.channel,
        store=store,
        payment_method=payment,
    )


def check_occurred_at(purchase: Purchase, program: Program, now: datetime) -> None:
    """Within the program's backdate limit, and not in the future (beyond a till's skew)."""
    occurred = purchase.occurred_at
    if occurred > now + FUTURE_SKEW:
        raise InvalidPartnerInput("occurredAt lies in the future", ("occurred_at",))
    if occurred < now - timedelta(days=program.backdate_days):
        raise InvalidPartnerInput(
            f"occurredAt lies more than {program.backdate_days} days in the past",
            ("occurred_at",),
        )


def fingerprint(request: PurchaseRequest, purchase: Purchase, member_id: str | None) -> str:
    """The request as resolved: the member by id, whichever reference named them (a till may
    post by phone and retry by member number). None: with the reference's own form, as orders
    recorded before the member was resolved first kept it (their replays still match)."""
    named = [request.member.id, request.member.member_no, request.member.phone]
    body = {
        "member": named if member_id is None else member_id,
        "order": request.order_id.strip(),
        "at": purchase.occurred_at.timestamp(),
        "channel": purchase.channel,
        "used": request.points_used,
        "lines": [
            [line.line_id, line.sku, line.category, line.quantity, f"{line.amount.normalize():f}"]
            for line in purchase.lines
        ],
    }
    # Only when sent, so that the fingerprints of orders posted before these existed still match.
    if purchase.store is not None:
        body["store"] = purchase.store
    if purchase.payment_method is not None:
        body["payment"] = purchase.payment_method
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
