"""The demo seed: a program, a catalog and a member whose history came through the real services."""

from __future__ import annotations

from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import get_balance, verify_balances
from app.members import get_member, get_tier_progress, list_tier_changes
from app.program import current_program
from app.seed import DEMO_MEMBER_ID, seed_demo


async def test_demo_member_has_an_exact_history(mongo: Mongo, clock: FrozenClock) -> None:
    result = await seed_demo(mongo, clock)
    assert result.seeded
    balance = await get_balance(mongo, DEMO_MEMBER_ID, clock.now())
    # 399 + (1288 + 1288) earned, 300 redeemed, 50 goodwill, 200 member-day points
    assert balance.available == 399 + 2576 - 300 + 50 + 200
    assert balance.next_expiry is not None and balance.next_expiry.points == 200
    kinds = [
        entry["kind"]
        async for entry in mongo["ledger"]
        .find({"member_id": DEMO_MEMBER_ID})
        .sort("occurred_at", 1)
    ]
    assert kinds == ["EARN", "EARN", "REDEEM", "ADJUST", "EARN"]
    assert await mongo["redemptions"].count_documents({"member_id": DEMO_MEMBER_ID}) == 1
    assert await verify_balances(mongo) == []


async def test_demo_members_earns_count_as_qualifying_points_and_made_them_silver(
    mongo: Mongo, clock: FrozenClock
) -> None:
    """Its two purchases and the member-day points qualify (2,975 at the second purchase passes
    Silver's 2,000); the goodwill adjustment does not. Seeded through the ledger alone, the demo
    member once showed 0 qualifying points with 3,175 earned."""
    await seed_demo(mongo, clock)
    program = await current_program(mongo)
    member = await get_member(mongo, DEMO_MEMBER_ID)
    progress = await get_tier_progress(
        mongo, program, member_id=DEMO_MEMBER_ID, tier=member.tier, now=clock.now()
    )
    assert (member.tier, progress.qualifying_points) == ("silver", 399 + 2576 + 200)
    changes, _ = await list_tier_changes(mongo, DEMO_MEMBER_ID, first=5)
    assert [(c.from_tier, c.to_tier, c.qualifying_points) for c in changes] == [
        ("member", "silver", 399 + 2576)
    ]


async def test_seeding_twice_changes_nothing(mongo: Mongo, clock: FrozenClock) -> None:
    await seed_demo(mongo, clock)
    entries = await mongo["ledger"].count_documents({})
    assert not (await seed_demo(mongo, clock)).seeded
    assert await mongo["ledger"].count_documents({}) == entries
