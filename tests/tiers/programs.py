"""A program with three tiers on a 30-day window, daily check-in and activities, for the tier and
engagement tests."""

from __future__ import annotations

from app.ledger import ExpiryPolicySet, Rolling
from app.program.models import Activity, CheckIn, Program, Tier, TierRules

PROGRAM = Program(
    name="Tier Mall",
    currency="积分",
    timezone="Asia/Shanghai",
    tiers=(
        Tier(code="member", name="Member", threshold=0),
        Tier(code="silver", name="Silver", threshold=100),
        Tier(code="gold", name="Gold", threshold=300),
    ),
    tier_rules=TierRules(window_days=30, max_levels_down=1),
    expiry=ExpiryPolicySet(
        default=Rolling(days=365), by_tier={"gold": Rolling(days=730)}, version=1
    ),
    check_in=CheckIn(points_by_streak=(5, 5, 10, 10, 20, 20, 50)),
    activities=(
        Activity(code="review", name="Product review", points=20, per_day=3, total=10),
        Activity(code="signup", name="Sign-up bonus", points=100, total=1),
    ),
)


def program(**changes: object) -> Program:
    return PROGRAM.model_copy(update=changes)
