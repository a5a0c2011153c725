"""How much of an order a refund takes back: pure arithmetic on the stored order, no I/O.

A line refunded by quantity gives back that share of its money (amount × q / quantity, floored to
a ten-thousandth); by amount, that money. A line's points are taken back in proportion of the
money refunded of it, floored on the running total (floor(earned × refunded / amount), less what
earlier refunds took), so partial refunds never add up to more than the line earned and the
refund that completes the line takes exactly the remainder. A line of no money goes by quantity.
Points earned by the whole order (a fixed campaign bonus) and points that paid for it follow the
refunded share of the order's money the same way; the refund completing the whole order takes
the remainder. Asking more of a line than is left to refund is OverRefund.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal
from fractions import Fraction

from app.partners.errors import InvalidPartnerInput, OverRefund
from app.partners.orders import Order, OrderLine

CENT = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class RefundAsk:
    line_id: str
    quantity: int | None = None
    amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class RefundPlan:
    lines: tuple[OrderLine, ...]  # every line of the order, as it is after the refund
    reversed_by_line: dict[str, int]
    order_reversed: int  # order-level points taken back by this refund
    points_returned: int  # points that paid for the order, given back by this refund
    amount: Decimal  # money refunded by this refund

    @property
    def points_reversed(self) -> int:
        return sum(self.reversed_by_line.values()) + self.order_reversed


def plan_refund(order: Order, asks: tuple[RefundAsk, ...]) -> RefundPlan:
    lines = {line.line_id: line for line in order.lines}
    if len({ask.line_id for ask in asks}) != len(asks):
        raise InvalidPartnerInput("each line at most once per refund", ("lines",))
    reversed_by_line: dict[str, int] = {}
    money = Decimal(0)
    for index, ask in enumerate(asks):
        line = lines.get(ask.line_id)
        if line is None:
            raise InvalidPartnerInput(
                f"the order has no line {ask.line_id}", ("lines", str(index), "line_id")
            )
        after = _refund_line(line, ask, index)
        money += after.refunded_amount - line.refunded_amount
        reversed_by_line[line.line_id] = after.reversed - line.reversed
        lines[line.line_id] = after
    final = tuple(lines[line.line_id] for line in order.lines)
    whole, refunded = _order_share(final)
    complete = all(_complete(line) for line in final)
    return RefundPlan(
        lines=final,
        reversed_by_line=reversed_by_line,
        order_reversed=_share(order.order_earned, refunded, whole, complete) - order.order_reversed,
        points_returned=_share(order.points_used, refunded, whole, complete)
        - order.points_returned,
        amount=money,
    )


def _refund_line(line: OrderLine, ask: RefundAsk, index: int) -> OrderLine:
    left_money = line.amount - line.refunded_amount
    if (ask.quantity is None) == (ask.amount is None):
        raise InvalidPartnerInput(
            "give a quantity or an amount for each refunded line", ("lines", str(index))
        )
    if ask.quantity is not None and ask.quantity <= 0:
        raise InvalidPartnerInput(
            "a refunded quantity is 1 or more", ("lines", str(index), "quantity")
        )
    if ask.amount is not None and ask.amount <= 0:
        raise InvalidPartnerInput(
            "a refunded amount is more than 0", ("lines", str(index), "amount")
        )
    if ask.quantity is not None:
        left = line.quantity - line.refunded_quantity
        if not ask.quantity <= left:
            raise OverRefund(line.line_id, f"{left} units", f"{ask.quantity} units", index)
        quantity = line.refunded_quantity + ask.quantity
        money = (line.amount * ask.quantity / line.quantity).quantize(CENT, ROUND_FLOOR)
        refunded = line.amount if quantity == line.quantity else line.refunded_amount + money
        after = replace(
            line, refunded_quantity=quantity, refunded_amount=min(refunded, line.amount)
        )
    else:
        assert ask.amount is not None
        if not ask.amount <= left_money:
            raise OverRefund(line.line_id, f"{left_money:f}", f"{ask.amount:f}", index)
        refunded = line.refunded_amount + ask.amount
        quantity = line.quantity if refunded == line.amount else line.refunded_quantity
        after = replace(line, refunded_quantity=quantity, refunded_amount=refunded)
    return replace(after, reversed=_line_points(after))


def _complete(line: OrderLine) -> bool:
    return line.refunded_quantity == line.quantity or (
        line.amount > 0 and line.refunded_amount == line.amount
    )


def _line_points(line: OrderLine) -> int:
    """The points of the line taken back by all its refunds so far."""
    if _complete(line):
        return line.earned
    if line.amount > 0:
        return math.floor(
            Fraction(line.earned) * Fraction(line.refunded_amount) / Fraction(line.amount)
        )
    return line.earned * line.refunded_quantity // line.quantity


def _order_share(lines: tuple[OrderLine, ...]) -> tuple[Fraction, Fraction]:
    whole = sum((Fraction(line.amount) for line in lines), Fraction(0))
    refunded = sum((Fraction(line.refunded_amount) for line in lines), Fraction(0))
    return whole, refunded


def _share(points: int, refunded: Fraction, whole: Fraction, complete: bool) -> int:
    """Of `points` belonging to the whole order, those its refunds so far take back."""
    if complete:
        return points
    if whole <= 0:
        return 0
    return math.floor(points * refunded / whole)
