"""LongLivedObjects: what survives into the eldest generation leaves the collector's full walks,
and the reference cycles among it are reclaimed by the full collection it runs every full_every."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from app.clock import FrozenClock
from app.long_lived import LongLivedObjects


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


@pytest.fixture
def unfrozen_after() -> Iterator[None]:
    yield
    gc.unfreeze()


async def test_survivors_are_frozen_past_the_young_limit_and_their_cycles_reclaimed_hourly(
    unfrozen_after,
) -> None:
    clock = FrozenClock(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    keeper = LongLivedObjects(clock, young_limit=1_000, every=3600)
    keeper.start()
    try:
        nodes = [Node() for _ in range(5_000)]
        gc.collect()  # they survive into the eldest generation
        assert len(gc.get_objects(generation=2)) > 1_000
        frozen = gc.get_freeze_count()

        keeper.step()
        assert gc.get_freeze_count() >= frozen + 5_000
        assert len(gc.get_objects(generation=2)) < 1_000

        last = weakref.ref(nodes[-1])
        del nodes
        gc.collect()
        assert last() is not None, "a frozen cycle is out of the collector's sight"

        clock.advance(timedelta(minutes=59))
        keeper.step()
        assert last() is not None
        clock.advance(timedelta(minutes=1))
        keeper.step()
        assert last() is None, "the hourly full collection reclaims frozen cycles"
    finally:
        await keeper.stop()


async def test_a_small_eldest_generation_is_left_to_the_collector(unfrozen_after) -> None:
    clock = FrozenClock(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    keeper = LongLivedObjects(clock, young_limit=1_000_000, every=3600)
    keeper.start()
    try:
        nodes = [Node() for _ in range(5_000)]
        gc.collect()
        frozen = gc.get_freeze_count()
        keeper.step()
        # nothing newly frozen (frozen objects may still be freed by reference counting meanwhile)
        assert gc.get_freeze_count() <= frozen
        assert len(nodes) == 5_000
    finally:
        await keeper.stop()
