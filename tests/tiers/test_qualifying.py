"""The pure arithmetic of qualifying points: the window in local days, when points leave it, and
how far one evaluation moves a member down."""

from __future__ import annotations

from datetime import UTC, datetime

from app.members.qualifying import (
    downgrade_target,
    earned_tier,
    leaves_at,
    qualifying_points,
    window_ends_at,
)
from app.program.models import TierRules
from tests.tiers.programs import PROGRAM, program

# 2026-01-15 17:00 in Shanghai
NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def test_the_window_is_the_last_thirty_local_days_including_today() -> None:
    buckets = {"2025-12-16": 50, "2025-12-17": 70, "2026-01-15": 10}
    assert qualifying_points(PROGRAM, buckets, NOW) == 80  # 16 December left the window


def test_a_local_day_leaves_the_window_at_local_midnight_thirty_days_on() -> None:
    # 17 December + 30 days = 16 January, 00:00 in Shanghai = 15 January 16:00 UTC
    assert leaves_at(PROGRAM, datetime(2025, 12, 17).date()) == datetime(
        2026, 1, 15, 16, 0, tzinfo=UTC
    )
    buckets = {"2025-12-17": 70, "2026-01-10": 10}
    assert window_ends_at(PROGRAM, buckets, NOW) == datetime(2026, 1, 15, 16, 0, tzinfo=UTC)
    assert window_ends_at(PROGRAM, {}, NOW) is None


def test_refunds_never_make_the_points_negative() -> None:
    assert qualifying_points(PROGRAM, {"2026-01-14": 30, "2026-01-15": -80}, NOW) == 0


def test_the_earned_tier_is_the_highest_threshold_reached() -> None:
    assert [earned_tier(PROGRAM, p).code for p in (0, 99, 100, 299, 300, 10**9)] == [
        "member",
        "member",
        "silver",
        "silver",
        "gold",
        "gold",
    ]


def test_a_downgrade_moves_at_most_the_configured_levels() -> None:
    assert downgrade_target(PROGRAM, "gold", 0).code == "silver"
    assert downgrade_target(PROGRAM, "gold", 150).code == "silver"
    assert downgrade_target(PROGRAM, "gold", 300) is None
    assert downgrade_target(PROGRAM, "silver", 500) is None  # never an upgrade here
    two = program(tier_rules=TierRules(window_days=30, max_levels_down=2))
    assert downgrade_target(two, "gold", 0).code == "member"
