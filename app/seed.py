"""The demo program seeded into an empty embedded database: an e-commerce points program."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from argon2 import PasswordHasher

from app.clock import Clock
from app.db import Mongo
from app.members.models import Member
from app.program.models import Program, Tier
from app.program.service import save_program
from app.rewards.models import Reward, RewardKind

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
)

DEMO_REWARDS = (
    Reward(id="r_coffee", name="Coffee coupon", category="food", kind=RewardKind.COUPON,
           points_price=300, coupon_validity_days=30, description="One latte at any partner cafe"),
    Reward(id="r_voucher10", name="¥10 voucher", category="vouchers", kind=RewardKind.COUPON,
           points_price=1000, per_member_limit=5, coupon_validity_days=60),
    Reward(id="r_tote", name="Canvas tote bag", category="goods", points_price=1200, stock=50,
           per_member_limit=2),
    Reward(id="r_headphones", name="Wireless headphones", category="electronics",
           points_price=25000, stock=5, min_tier="gold"),
)  # fmt: skip


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
    document["password_hash"] = PasswordHasher().hash(DEMO_PASSWORD)
    await mongo["members"].insert_one(document)
    await mongo["counters"].update_one({"_id": "member_no"}, {"$max": {"value": 1}}, upsert=True)
    log.info("seeded the demo program")
    return SeedResult(seeded=True, member_id=DEMO_MEMBER_ID)
