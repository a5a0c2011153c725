"""A partner voucher's low-stock alert over HTTP: a reward made with `lowStockAt`, its codes
uploaded in a batch, and the redemption that brings the stock down to the mark tells the operators
once (an event for the brand's systems and an audit entry), whatever the concurrency, and again
only after the stock went back above the mark and came down again."""

from __future__ import annotations

import asyncio

from tests.api.gql import earn_points, make_member, make_program, member_token
from tests.api.test_catalog_admin import ADMIN, COUPONS, CREATE, REDEEM, UPDATE, _do
from tests.api.test_points_admin import admin


async def alerts(runtime) -> list[dict]:
    return await runtime.mongo["events"].find({"type": "reward.low_stock"}).to_list()


async def test_the_redemption_that_reaches_the_mark_tells_the_operators_once(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock)
    operator = admin(issuer, *ADMIN)
    made = await _do(
        client,
        CREATE,
        operator,
        name="Cinema voucher",
        pointsPrice=10,
        kind="COUPON",
        stock=0,
        lowStockAt=3,
        idempotencyKey="cinema",
    )
    assert made["userErrors"] == [], made
    reward = made["reward"]["id"]
    codes = [f"CINE-{n:03d}" for n in range(8)]
    added = await _do(client, COUPONS, operator, rewardId=reward, codes=codes, idempotencyKey="b1")
    assert added["added"] == 8
    members = [await make_member(runtime, clock, name=f"M{n}") for n in range(8)]
    for n, member in enumerate(members):
        await earn_points(runtime, clock, member, 100, f"e{n}")

    async def redeem(member: str, key: str) -> dict:
        return await _do(
            client, REDEEM, member_token(issuer, member), rewardId=reward, idempotencyKey=key
        )

    # 8 → 4 one at a time: no alert; then 4 members at once take it to 0: the one that took it
    # from 4 to 3 is the crossing, whoever it was.
    for member in members[:4]:
        assert (await redeem(member, "r1"))["userErrors"] == []
    assert await alerts(runtime) == []
    results = await asyncio.gather(*(redeem(m, "r1") for m in members[4:]))
    assert all(r["userErrors"] == [] for r in results), results
    [alert] = await alerts(runtime)
    assert alert["data"] == {
        "reward_id": alert["data"]["reward_id"],
        "name": "Cinema voucher",
        "stock": 3,
        "low_stock_at": 3,
    }
    assert alert["member_id"] is None
    audit = await runtime.mongo["audit"].find({"action": "reward.low_stock"}).to_list()
    assert [(a["actor"], a["after"]) for a in audit] == [
        ("system", {"stock": 3, "low_stock_at": 3})
    ]

    # A new batch lifts it above the mark; coming down to it again tells them again.
    more = [f"CINE-{n:03d}" for n in range(8, 12)]
    assert (await _do(client, COUPONS, operator, rewardId=reward, codes=more, idempotencyKey="b2"))[
        "added"
    ] == 4
    for n, member in enumerate(members[:2]):
        await earn_points(runtime, clock, member, 100, f"again{n}")
        assert (await redeem(member, "r2"))["userErrors"] == []
    # 4 → 3 crosses the mark again: a second alert.
    assert [a["data"]["stock"] for a in await alerts(runtime)] == [3, 3]


async def test_the_mark_is_bounded_and_changeable(client, runtime, clock, issuer) -> None:
    await make_program(runtime, clock)
    operator = admin(issuer, *ADMIN)
    refused = await _do(
        client,
        CREATE,
        operator,
        name="X",
        pointsPrice=10,
        kind="COUPON",
        stock=0,
        lowStockAt=0,
        idempotencyKey="x",
    )
    assert [(e["code"], e["field"][-1]) for e in refused["userErrors"]] == [
        ("INVALID_INPUT", "lowStockAt")
    ]
    made = await _do(
        client,
        CREATE,
        operator,
        name="Y",
        pointsPrice=10,
        kind="COUPON",
        stock=0,
        idempotencyKey="y",
    )
    changed = await _do(client, UPDATE, operator, rewardId=made["reward"]["id"], lowStockAt=5)
    assert changed["userErrors"] == []
    stored = await runtime.mongo["rewards"].find_one({"name": "Y"})
    assert stored is not None and stored["low_stock_at"] == 5
