"""A hold whose TTL has passed gives its points back at once, whatever the release job has done.

Every balance read counts it released (memberBalance, me.balance, quoteOffset) and every write
that needs the points (a new hold, a redemption, an adjustment, 清零, a release) releases it in
its own transaction, as the job would: the hold EXPIRED, balances still rebuilt from the ledger
(`ledger verify`), and the hold released or captured once when the job, a capture and other
requests race the lapse.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any

import httpx

from app.auth import PrincipalKind, TokenIssuer
from app.clock import FrozenClock
from app.ledger import clear, release_expired_holds, verify_balances
from app.rewards import Reward
from app.runtime import Runtime
from graphql_schema.ids import to_global_id
from tests.api.gql import ask, data, earn_points, make_member, make_reward, member_token
from tests.partners.api import (
    HOLD,
    QUOTE,
    RELEASE,
    balance,
    capture,
    fresh_token,
    hold,
    make_program,
    member_ref,
    partner_token,
)

POINTS = 3_000
HOLD_STATUS = "query($id: ID!) { hold(id: $id) { status points } }"
ME = "{ me { balance { available pending held } } }"
REDEEM = """mutation($input: RedeemRewardInput!) {
  redeemReward(input: $input) { redemption { points } userErrors { code } } }"""
ADJUST = """mutation($input: AdjustPointsInput!) { adjustPoints(input: $input) {
  entry { points } userErrors { code } } }"""
FREE = {"available": POINTS, "pending": 0, "held": 0, "debt": 0}


async def lapsed(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> tuple[str, str, dict[str, Any]]:
    """A member with 3,000 points all held for a minute, and the clock two minutes on (no job)."""
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    await earn_points(runtime, clock, member, POINTS, "seed")
    token = await partner_token(runtime, clock, issuer)
    held = await hold(client, token, member, POINTS, "o-1", "h-1", ttlMinutes=1)
    assert (await balance(client, token, member))["held"] == POINTS
    clock.advance(timedelta(minutes=2))
    return member, await fresh_token(runtime, issuer), held


async def try_hold(client: httpx.AsyncClient, token: str, member: str, key: str) -> dict[str, Any]:
    body = {"member": member_ref(member), "points": POINTS, "orderId": key, "idempotencyKey": key}
    result: dict[str, Any] = data(await ask(client, HOLD, token, {"input": body}))["holdPoints"]
    return result


async def stored_statuses(runtime: Runtime, member: str) -> list[str]:
    return sorted(
        [doc["status"] async for doc in runtime.mongo["holds"].find({"member_id": member})]
    )


async def test_every_balance_read_counts_a_lapsed_hold_released_before_the_job_runs(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    member, token, held = await lapsed(client, runtime, clock, issuer)
    status = data(await ask(client, HOLD_STATUS, token, {"id": held["id"]}))["hold"]
    assert status == {"status": "EXPIRED", "points": POINTS}
    assert await balance(client, token, member) == FREE
    me = data(await ask(client, ME, member_token(issuer, member)))["me"]["balance"]
    assert me == {"available": POINTS, "pending": 0, "held": 0}
    quote = {"member": member_ref(member), "amount": "100000"}
    assert data(await ask(client, QUOTE, token, quote))["quoteOffset"]["available"] == POINTS
    assert await stored_statuses(runtime, member) == ["active"]  # a read writes nothing
    assert await verify_balances(runtime.mongo) == []

    run = await release_expired_holds(runtime.mongo, clock)
    assert (run.holds, run.points) == (1, POINTS)
    assert await balance(client, token, member) == FREE  # the job changes no figure
    assert await verify_balances(runtime.mongo) == []


async def test_a_new_hold_takes_the_points_of_a_lapsed_one(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    member, token, _ = await lapsed(client, runtime, clock, issuer)
    again = await try_hold(client, token, member, "o-2")
    assert again["userErrors"] == [] and again["hold"]["points"] == POINTS
    assert await stored_statuses(runtime, member) == ["active", "expired"]
    assert await balance(client, token, member) == {**FREE, "available": 0, "held": POINTS}
    assert await verify_balances(runtime.mongo) == []
    assert (await release_expired_holds(runtime.mongo, clock)).holds == 0  # released once


async def test_a_redemption_spends_the_points_of_a_lapsed_hold(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    member, token, _ = await lapsed(client, runtime, clock, issuer)
    await make_reward(runtime, Reward(id="r_all", name="Everything", points_price=POINTS))
    variables = {"input": {"rewardId": to_global_id("Reward", "r_all"), "idempotencyKey": "k"}}
    spent = data(await ask(client, REDEEM, member_token(issuer, member), variables))
    assert spent["redeemReward"]["userErrors"] == []
    assert spent["redeemReward"]["redemption"]["points"] == POINTS
    assert await stored_statuses(runtime, member) == ["expired"]
    assert await balance(client, token, member) == {**FREE, "available": 0}
    assert await verify_balances(runtime.mongo) == []
    assert (await release_expired_holds(runtime.mongo, clock)).holds == 0


async def test_an_adjustment_takes_the_points_of_a_lapsed_hold(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    member, token, _ = await lapsed(client, runtime, clock, issuer)
    ops = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["points:write"])
    body = {
        "memberId": to_global_id("Member", member),
        "points": -POINTS,
        "reason": "correction",
        "idempotencyKey": "a-1",
    }
    adjusted = data(await ask(client, ADJUST, ops, {"input": body}))["adjustPoints"]
    assert adjusted == {"entry": {"points": -POINTS}, "userErrors": []}
    assert await stored_statuses(runtime, member) == ["expired"]
    assert await balance(client, token, member) == {**FREE, "available": 0}
    assert await verify_balances(runtime.mongo) == []


async def test_clearing_and_releasing_a_lapsed_hold_release_it_once(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    member, token, held = await lapsed(client, runtime, clock, issuer)
    released = data(await ask(client, RELEASE, token, {"id": held["id"]}))["releasePoints"]
    assert released["hold"] == {"status": "EXPIRED", "points": POINTS}
    assert await balance(client, token, member) == FREE
    assert await verify_balances(runtime.mongo) == []

    # 清零 of a member whose lapsed hold no job released: the hold expires, every point is cleared.
    other = await make_member(runtime, clock, name="Han Meimei")
    await earn_points(runtime, clock, other, POINTS, "seed-2")
    await hold(client, token, other, 1_000, "o-9", "h-9", ttlMinutes=1)
    clock.advance(timedelta(minutes=2))
    token = await fresh_token(runtime, issuer)
    entry = await clear(
        runtime.mongo, clock, member_id=other, reason="r", actor="ops", idempotency_key="c-1"
    )
    assert entry.points == -POINTS
    assert await stored_statuses(runtime, other) == ["expired"]
    assert await balance(client, token, other) == {**FREE, "available": 0}
    assert await verify_balances(runtime.mongo) == []


async def race(
    client: httpx.AsyncClient,
    runtime: Runtime,
    clock: FrozenClock,
    token: str,
    member: str,
    hold_id: str,
    lapse_midway: bool,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Ten captures of the hold, ten new holds of all the points and the release job, at once;
    with `lapse_midway` the clock passes the TTL as soon as the first of them is answered."""
    answered = asyncio.Event()

    async def answer(request: Awaitable[dict[str, Any]]) -> dict[str, Any]:
        result = await request
        answered.set()
        return result

    async def passing() -> None:
        await answered.wait()
        clock.advance(timedelta(minutes=2))

    captures = [answer(capture(client, token, hold_id, f"c-{n}")) for n in range(10)]
    holds = [answer(try_hold(client, token, member, f"o-new-{n}")) for n in range(10)]
    job = release_expired_holds(runtime.mongo, clock)
    extra = [passing()] if lapse_midway else []
    results = await asyncio.gather(*captures, *holds, job, *extra)
    return results[:10], results[10:20], results[20].holds


async def test_the_release_job_a_capture_and_new_holds_racing_the_lapse_release_it_once(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    await make_program(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    # At the lapse instant exactly: every capture is refused; one new hold and no more succeeds.
    member = await make_member(runtime, clock)
    await earn_points(runtime, clock, member, POINTS, "seed")
    held = await hold(client, token, member, POINTS, "o-1", "h-1", ttlMinutes=1)
    clock.advance(timedelta(minutes=1))
    captures, holds, by_job = await race(client, runtime, clock, token, member, held["id"], False)
    assert {c["userErrors"][0]["code"] for c in captures} == {"HOLD_NOT_ACTIVE"}
    made = [h for h in holds if h["userErrors"] == []]
    assert len(made) == 1, holds
    assert {h["userErrors"][0]["code"] for h in holds if h["userErrors"]} == {"INSUFFICIENT_POINTS"}
    assert by_job in (0, 1)
    assert await stored_statuses(runtime, member) == ["active", "expired"]
    assert await balance(client, token, member) == {**FREE, "available": 0, "held": POINTS}
    assert await verify_balances(runtime.mongo) == []

    # Around the lapse instant: the hold is captured or lapses, once, whichever came first.
    member = await make_member(runtime, clock, name="Han Meimei")
    await earn_points(runtime, clock, member, POINTS, "seed-2")
    token = await fresh_token(runtime, issuer)
    held = await hold(client, token, member, POINTS, "o-2", "h-2", ttlMinutes=1)
    clock.advance(timedelta(seconds=59, milliseconds=999))
    captures, holds, by_job = await race(client, runtime, clock, token, member, held["id"], True)
    taken = [c for c in captures if c["userErrors"] == []]
    made = [h for h in holds if h["userErrors"] == []]
    assert len(taken) + len(made) <= 1, (captures, holds)
    statuses = await stored_statuses(runtime, member)
    if taken:
        assert taken[0]["entry"] == {"kind": "REDEEM", "points": -POINTS}
        assert statuses == ["captured"] and by_job == 0
    elif made:
        assert statuses == ["active", "expired"]
    else:  # every request ran before the lapse, or refused; the job may have run after it
        assert statuses in (["active"], ["expired"])
    redeems = await runtime.mongo["ledger"].count_documents({"member_id": member, "kind": "REDEEM"})
    assert redeems == len(taken)
    token = await fresh_token(runtime, issuer)
    left = await balance(client, token, member)
    assert left["available"] + left["held"] == (0 if taken else POINTS)
    assert left["held"] == (POINTS if made else 0)
    assert await verify_balances(runtime.mongo) == []
    lapsed_left = statuses.count("active") - len(made)  # the old hold, when nothing wrote since
    assert (await release_expired_holds(runtime.mongo, clock)).holds == lapsed_left
    assert await verify_balances(runtime.mongo) == []
