"""The spending order (lot keys), allocation along it and the next expiry: pure functions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.ledger import order
from app.ledger.allocation import allocate, next_expiry

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Lot:
    order_id: str
    free: int
    earned_at: datetime
    expires_at: datetime | None
    key: str = ""


def test_spend_takes_soonest_expiring_lot_first_then_oldest() -> None:
    never = Lot("a", 10, T0, None, order.lot_key(1, None, None))
    late = Lot(
        "b", 10, T0, T0 + timedelta(days=90), order.lot_key(2, T0 + timedelta(days=90), None)
    )
    soon_new = Lot(
        "c", 10, T0, T0 + timedelta(days=30), order.lot_key(4, T0 + timedelta(days=30), None)
    )
    soon_old = Lot(
        "d", 10, T0, T0 + timedelta(days=30), order.lot_key(3, T0 + timedelta(days=30), None)
    )
    lots = sorted([never, late, soon_new, soon_old], key=lambda lot: lot.key)
    assert [lot.order_id for lot in lots] == ["d", "c", "b", "a"]
    assert [(lot.order_id, n) for lot, n in allocate(lots, 25)] == [
        ("d", 10),
        ("c", 10),
        ("b", 5),
    ]


def test_inactivity_points_go_after_fixed_dates_and_before_never_expiring_ones() -> None:
    keys = {
        "never": order.lot_key(1, None, None),
        "inactivity": order.lot_key(2, None, "d00540@UTC"),
        "in a year": order.lot_key(3, T0 + timedelta(days=365), None),
    }
    assert sorted(keys, key=keys.__getitem__) == ["in a year", "inactivity", "never"]


@given(
    st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(0, 1000).map(lambda m: T0 + timedelta(minutes=m))),
            st.booleans(),
        ),
        max_size=20,
    )
)
def test_the_key_sorts_lots_by_class_then_expiry_then_issue(
    lots: list[tuple[datetime | None, bool]],
) -> None:
    keyed = [
        (order.lot_key(seq, None if inactive else at, "d00030@UTC" if inactive else None), seq)
        for seq, (at, inactive) in enumerate(lots, start=1)
    ]
    by_rule = sorted(
        range(1, len(lots) + 1),
        key=lambda seq: (
            (1, T0, seq)
            if lots[seq - 1][1]
            else (2, T0, seq)
            if lots[seq - 1][0] is None
            else (0, lots[seq - 1][0], seq)
        ),
    )
    assert [seq for _, seq in sorted(keyed)] == by_rule


def test_allocation_skips_empty_lots_and_refuses_to_overdraw() -> None:
    lots = [Lot("a", 0, T0, None), Lot("b", 5, T0, None)]
    assert [(lot.order_id, n) for lot, n in allocate(lots, 5)] == [("b", 5)]
    with pytest.raises(ValueError):
        allocate(lots, 6)


def test_next_expiry_sums_the_points_sharing_the_soonest_instant() -> None:
    end = T0 + timedelta(days=30)
    lots = [
        Lot("a", 5, T0, end),
        Lot("b", 7, T0, end),
        Lot("c", 9, T0, end + timedelta(1)),
        Lot("d", 4, T0, None),
    ]
    assert next_expiry(lots) == (end, 12)
    assert next_expiry([Lot("d", 4, T0, None), Lot("e", 0, T0, end)]) is None


lots_strategy = st.lists(
    st.builds(
        Lot,
        order_id=st.uuids().map(str),
        free=st.integers(0, 50),
        earned_at=st.integers(0, 100).map(lambda d: T0 + timedelta(days=d)),
        expires_at=st.one_of(st.none(), st.integers(0, 100).map(lambda d: T0 + timedelta(days=d))),
    ),
    max_size=12,
)


@given(lots=lots_strategy, data=st.data())
def test_allocation_takes_exactly_the_points_and_never_a_later_lot_before_an_earlier_one(
    lots: list[Lot], data: st.DataObject
) -> None:
    total = sum(lot.free for lot in lots)
    points = data.draw(st.integers(0, total))
    taken = allocate(lots, points)
    assert sum(n for _, n in taken) == points
    assert all(0 < n <= lot.free for lot, n in taken)
    given_order = [lot for lot in lots if lot.free > 0]  # allocate keeps the order it is given
    # every lot before the last one touched is emptied
    if taken:
        last = given_order.index(taken[-1][0])
        assert [lot for lot, _ in taken] == given_order[: last + 1]
        assert all(n == lot.free for lot, n in taken[:-1])


def test_the_search_ranges_cover_every_key_after_a_point_once_in_order() -> None:
    now = datetime(2026, 1, 15, tzinfo=UTC)
    after = order.lot_key(7, now + timedelta(days=3), None)
    ranges = list(order.search_ranges(after, now, 5000, ["d00540@UTC"], 128))
    assert ranges[0][0] == after
    assert all(low < high for low, high in ranges)
    assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:], strict=False))  # in order
    assert ranges[-1][1] == f"{order.NEVER}|{order.END}"
    keys = [
        order.lot_key(9, now + timedelta(days=3), None),
        order.lot_key(900, now + timedelta(days=3), None),
        order.lot_key(2, datetime(9998, 6, 1, tzinfo=UTC), None),
        order.lot_key(4, None, "d00540@UTC"),
        order.lot_key(4999, None, None),
    ]
    for key in keys:  # each falls in exactly one range
        assert sum(low < key <= high for low, high in ranges) == 1, key


def test_allocation_reads_no_lot_past_the_one_that_completes_the_points() -> None:
    def lots() -> Iterator[Lot]:
        yield Lot("a", 5, T0, None)
        yield Lot("b", 5, T0, None)
        raise AssertionError("read past the lot that completed the points")

    assert [(lot.order_id, n) for lot, n in allocate(lots(), 10)] == [("a", 5), ("b", 5)]
    assert allocate(lots(), 0) == []
