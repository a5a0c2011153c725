"""The demo program seeded into an empty embedded database: an e-commerce points program."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from app.auth import hash_password
from app.clock import Clock, FrozenClock
from app.db import Mongo
from app.ledger import (
    BreakdownLine,
    Entry,
    ExpiryPolicySet,
    Inactivity,
    LedgerUnit,
    Never,
    PeriodEnd,
    Rolling,
    adjust,
    run_in_ledger,
)
from app.members import Member, qualify, qualifying_tally
from app.program import (
    Activity,
    Campaign,
    CheckIn,
    EarnRules,
    Exclusions,
    PayWithPoints,
    Program,
    Recurrence,
    Tier,
    save_program,
)
from app.rewards import Reward, RewardKind, redeem

log = logging.getLogger(__name__)

DEMO_MEMBER_ID = "m_demo"
DEMO_PHONE = "+8613800138000"
DEMO_PASSWORD = "demo-password"  # a demo account on a local embedded database only

DEMO_PROGRAM = Program(
    name="Jifen Demo Mall",
    currency="积分",
    timezone="Asia/Shanghai",
    tiers=(
        Tier(code="member", name="普通会员 Member", threshold=0),
        Tier(code="silver", name="银卡 Silver", threshold=2000),
        Tier(code="gold", name="金卡 Gold", threshold=10000),
    ),
    # Points earned in a year expire at the end of the next year (Shanghai time); gold keeps two.
    expiry=ExpiryPolicySet(
        default=PeriodEnd(period="year", periods_after=1),
        by_tier={"gold": PeriodEnd(period="year", periods_after=2)},
    ),
    # What partners' purchases earn (docs/earning.md): 1 point per ¥1, gift cards and shipping
    # earning nothing, double points on 11.11 and every Wednesday (member day), once not twice.
    return_window_days=7,
    earn=EarnRules(exclusions=Exclusions(categories=("gift-card", "shipping"))),
    campaigns=(
        Campaign(
            id="double-11",
            name="双11 Double points",
            recurrence=Recurrence(dates=("11-11",)),
            multiplier=Decimal(2),
            stacking="best_of",
        ),
        Campaign(
            id="member-day",
            name="会员日 Member day",
            recurrence=Recurrence(weekdays=(3,)),
            multiplier=Decimal(2),
            stacking="best_of",
        ),
    ),
    activities=(Activity(code="review", name="Product review", points=20, per_day=3),),
    check_in=CheckIn(points_by_streak=(5, 5, 10, 10, 20, 20, 50)),
    pay_with_points=PayWithPoints(
        point_value=Decimal("0.01"), max_share=Decimal("0.2"), min_points=100, step=100
    ),
)

DEMO_REWARDS = (
    Reward(
        id="r_coffee",
        name="Coffee coupon",
        category="food",
        kind=RewardKind.COUPON,
        points_price=300,
        coupon_validity_days=30,
        description="One latte at any partner cafe",
    ),
    Reward(
        id="r_voucher10",
        name="¥10 voucher",
        category="vouchers",
        kind=RewardKind.COUPON,
        points_price=1000,
        per_member_limit=5,
        coupon_validity_days=60,
    ),
    Reward(
        id="r_tote",
        name="Canvas tote bag",
        category="goods",
        points_price=1200,
        stock=50,
        per_member_limit=2,
    ),
    Reward(
        id="r_headphones",
        name="Wireless headphones",
        category="electronics",
        points_price=25000,
        stock=5,
        min_tier="gold",
    ),
)


@dataclass(frozen=True)
class SeedResult:
    seeded: bool
    member_id: str


async def database_is_empty(mongo: Mongo) -> bool:
    return await mongo["program"].count_documents({}, limit=1) == 0


async def seed_demo(mongo: Mongo, clock: Clock) -> SeedResult:
    """Seed the demo program, catalog and member once; a database that has a program is left alone."""
    if not await database_is_empty(mongo):
        return SeedResult(seeded=False, member_id=DEMO_MEMBER_ID)
    await save_program(mongo, clock, DEMO_PROGRAM)
    await mongo["rewards"].insert_many(
        [reward.model_dump(by_alias=True, mode="python") for reward in DEMO_REWARDS]
    )
    member = Member(
        id=DEMO_MEMBER_ID,
        member_no="JF000000001",
        name="Demo Member 演示会员",
        phone=DEMO_PHONE,
        tier="member",
        joined_at=clock.now(),
    )
    document = member.model_dump(by_alias=True, mode="python")
    document["password_hash"] = await hash_password(DEMO_PASSWORD)
    await mongo["members"].insert_one(document)
    await mongo["counters"].update_one({"_id": "member_no"}, {"$max": {"value": 1}}, upsert=True)
    await _demo_history(mongo, clock, member)
    log.info("seeded the demo program")
    return SeedResult(seeded=True, member_id=DEMO_MEMBER_ID)


async def _demo_history(mongo: Mongo, clock: Clock, member: Member) -> None:
    """Two purchases, a redemption, a goodwill adjustment and campaign points that expire soon."""
    now = clock.now()
    policy = DEMO_PROGRAM.expiry.for_tier(member.tier)
    past = FrozenClock(now - timedelta(days=60))
    purchases = (("DEMO-1001", 399, ()), ("DEMO-1002", 1288, (("campaign:double-11", 1288),)))
    for order, spend, bonuses in purchases:
        lines = [BreakdownLine("base", f"1 point per ¥1 on ¥{spend}", spend)]
        lines += [BreakdownLine(rule, "Double points campaign", points) for rule, points in bonuses]
        await _earn(
            mongo,
            past,
            member,
            key=f"demo:earn:{order}",
            policy=policy,
            reference=order,
            description=f"Purchase {order}",
            breakdown=lines,
            channel="online-shop",
        )
        past.advance(timedelta(days=30))
    past.set(now - timedelta(days=10))
    await redeem(
        mongo,
        past,
        member_id=member.id,
        reward_id=DEMO_REWARDS[0].id,
        quantity=1,
        idempotency_key="demo:redeem:coffee",
    )
    past.advance(timedelta(days=3))
    await adjust(
        mongo,
        past,
        member_id=member.id,
        points=50,
        idempotency_key="demo:adjust:late-delivery",
        reason="Goodwill: late delivery of DEMO-1002",
        actor="ops:demo",
    )
    past.advance(timedelta(days=5))
    await _earn(
        mongo,
        past,
        member,
        key="demo:earn:member-day",
        policy=Rolling(days=14),
        reference="member-day",
        description="Member day bonus (valid 14 days)",
        breakdown=[BreakdownLine("campaign:member-day", "Member day bonus", 200)],
        channel=None,
    )


async def _earn(
    mongo: Mongo,
    clock: Clock,
    member: Member,
    *,
    key: str,
    policy: Rolling | PeriodEnd | Inactivity | Never,
    reference: str,
    description: str,
    breakdown: list[BreakdownLine],
    channel: str | None,
) -> None:
    """An earn as a purchase or a campaign makes it: its points count as qualifying points and
    lift the member's tier when they reach the next one (the demo member is Silver by its two
    purchases, as a real member would be)."""
    program, now = DEMO_PROGRAM, clock.now()
    points = sum(line.points for line in breakdown)
    counted = qualifying_tally(program, now, points=points, at=now)

    async def work(unit: LedgerUnit) -> Entry:
        entry = await unit.earn(
            member.id,
            points,
            policy=policy,
            tz=program.timezone,
            breakdown=breakdown,
            reference=reference,
            description=description,
            channel=channel,
            tally=counted,
        )
        if counted is not None:
            progress = unit.tallied(member.id, counted.name)
            await qualify(
                mongo,
                unit.session,
                unit.now,
                program,
                member_id=member.id,
                progress=progress,
                entry_id=entry.id,
            )
        return entry

    async def replay(first: Entry) -> Entry:
        return first

    await run_in_ledger(mongo, clock, work, idempotency_key=key, fingerprint=key, replay=replay)
