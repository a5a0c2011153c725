"""The refund arithmetic on its own: partial refunds in any order never take more than was earned,
and refunding everything takes exactly what was earned and gives back exactly what paid."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.partners import Order, OrderLine
from app.partners.apportion import RefundAsk, plan_refund
from app.partners.errors import OverRefund

AT = datetime(2026, 1, 15, 8, tzinfo=UTC)


def make_order(lines: list[tuple[int, Decimal, int]], order_earned: int, used: int) -> Order:
    return Order(
        order_id="o",
        partner_id="p",
        member_id="m",
        total=0,
        breakdown=(),
        entry_id=None,
        available_at=None,
        pending=False,
        lines=tuple(
            OrderLine(f"L{n}", quantity, amount, earned, 0, Decimal(0), 0)
            for n, (quantity, amount, earned) in enumerate(lines)
        ),
        order_earned=order_earned,
        order_reversed=0,
        points_used=used,
        points_returned=0,
        occurred_at=AT,
        recorded_at=AT,
    )


def apply(order: Order, asks: tuple[RefundAsk, ...]) -> tuple[Order, int, int]:
    plan = plan_refund(order, asks)
    after = replace(
        order,
        lines=plan.lines,
        order_reversed=order.order_reversed + plan.order_reversed,
        points_returned=order.points_returned + plan.points_returned,
    )
    return after, plan.points_reversed, plan.points_returned


lines_strategy = st.lists(
    st.tuples(
        st.integers(1, 5),
        st.decimals(min_value=0, max_value=500, places=2),
        st.integers(0, 1_000),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(
    lines=lines_strategy,
    order_earned=st.integers(0, 100),
    used=st.integers(0, 1_000),
    data=st.data(),
)
def test_refunding_unit_by_unit_in_any_order_takes_back_exactly_what_was_earned(
    lines, order_earned, used, data
) -> None:
    order = make_order(lines, order_earned, used)
    units = [f"L{n}" for n, (quantity, _, _) in enumerate(lines) for _ in range(quantity)]
    units = data.draw(st.permutations(units))
    reversed_total = returned_total = 0
    for line_id in units:
        order, reversed_points, returned = apply(order, (RefundAsk(line_id, quantity=1),))
        assert reversed_points >= 0 and returned >= 0
        reversed_total += reversed_points
        returned_total += returned
        assert reversed_total <= sum(earned for _, _, earned in lines) + order_earned
        assert returned_total <= used
    assert reversed_total == sum(earned for _, _, earned in lines) + order_earned
    assert returned_total == used


def test_a_line_refunded_by_amount_then_by_quantity_stops_at_what_was_bought() -> None:
    order = make_order([(2, Decimal("100"), 100)], 0, 0)
    order, taken, _ = apply(order, (RefundAsk("L0", amount=Decimal("30")),))
    assert taken == 30
    order, taken, _ = apply(order, (RefundAsk("L0", quantity=1),))
    assert taken == 50  # 30 + 50 money refunded: floor(100 × 80 / 100) - 30
    with pytest.raises(OverRefund):
        apply(order, (RefundAsk("L0", amount=Decimal("20.01")),))
    order, taken, _ = apply(order, (RefundAsk("L0", quantity=1),))
    assert taken == 20
