"""Points are issued under the expiry policy of the member's tier at the time of the earn, stamped
with the program version; a later version never moves the expiry of points already issued."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import ExpiryPolicySet, Never, PeriodEnd, Rolling, earn, expire_due, get_balance
from app.program import Program, Tier, apply_program, get_program, issue_terms

TIERS = (
    Tier(code="member", name="Member", threshold=0),
    Tier(code="gold", name="Gold", threshold=10_000),
)
PROGRAM = Program(
    name="Airline",
    currency="miles",
    timezone="Asia/Shanghai",
    tiers=TIERS,
    expiry=ExpiryPolicySet(
        default=PeriodEnd(period="year", periods_after=1), by_tier={"gold": Rolling(months=24)}
    ),
    return_window_days=7,
)


def test_the_tier_picks_its_policy_and_the_program_version_is_stamped() -> None:
    program = PROGRAM.model_copy(update={"version": 4})
    gold = issue_terms(program, "gold")
    assert gold == (Rolling(months=24), 4, "Asia/Shanghai", timedelta(days=7))
    assert issue_terms(program, "member").policy == PeriodEnd(period="year", periods_after=1)
    assert issue_terms(program, "no-such-tier").policy == program.expiry.default
    assert issue_terms(Program(name="x", currency="p", tiers=TIERS), None) == (
        Never(),
        1,
        "UTC",
        timedelta(0),
    )


async def earn_under_current_program(
    mongo: Mongo, clock: FrozenClock, member_id: str, tier: str, key: str
) -> None:
    policy, version, tz, window = issue_terms(await get_program(mongo), tier)
    await earn(
        mongo,
        clock,
        member_id=member_id,
        points=100,
        idempotency_key=key,
        policy=policy,
        policy_version=version,
        tz=tz,
        available_at=clock.now() + window,
    )


async def test_a_new_program_version_does_not_move_issued_expiries(
    mongo: Mongo, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 3, 10, 2, 0, tzinfo=UTC))
    await apply_program(mongo, clock, PROGRAM, updated_by="cli:ops")
    await earn_under_current_program(mongo, clock, "m_gold", "gold", "first")
    shorter = ExpiryPolicySet(default=Rolling(days=30), by_tier={"gold": Rolling(days=30)})
    changed = await apply_program(
        mongo, clock, PROGRAM.model_copy(update={"expiry": shorter}), updated_by="admin:li"
    )
    assert changed.stamp.version == 2
    await earn_under_current_program(mongo, clock, "m_gold", "gold", "second")

    lots = {lot["policy"]["version"]: lot async for lot in mongo["lots"].find({})}
    assert lots[1]["expires_at"] == datetime(2028, 3, 10, 2, 0, tzinfo=UTC)  # 24 months
    assert lots[1]["policy"]["params"] == {"months": 24}
    assert lots[2]["expires_at"] == datetime(2026, 4, 9, 2, 0, tzinfo=UTC)  # 30 days
    assert lots[1]["available_at"] == clock.now() + timedelta(days=7)

    clock.set(datetime(2026, 4, 9, 2, 0, tzinfo=UTC))
    await expire_due(mongo, clock)
    balance = await get_balance(mongo, "m_gold", clock.now())
    assert balance.available + balance.pending == 100  # only the second earn's points expired
