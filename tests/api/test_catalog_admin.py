"""Operators run the catalog over HTTP: rewards, stock, coupon batches issued once each under
concurrency, and cancelled redemptions; partners use coupons; scopes enforced."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.auth import PrincipalKind, TokenIssuer
from app.clock import FrozenClock
from app.ledger import get_balance, verify_balances
from app.runtime import Runtime
from graphql_schema.ids import to_global_id
from tests.api.gql import ask, codes, data, earn_points, make_member, make_program, member_token
from tests.partners.api import partner_token

ADMIN = ["catalog:read", "catalog:write", "audit:read"]
REWARD = "reward { id name stock active pointsPrice kind } userErrors { code field message }"
CREATE = f"mutation($i: CreateRewardInput!) {{ createReward(input: $i) {{ {REWARD} }} }}"
UPDATE = f"mutation($i: UpdateRewardInput!) {{ updateReward(input: $i) {{ {REWARD} }} }}"
STOCK = f"mutation($i: MoveStockInput!) {{ moveStock(input: $i) {{ {REWARD} }} }}"
COUPONS = """mutation($i: AddCouponsInput!) { addCoupons(input: $i) {
  added reward { stock } userErrors { code field message } } }"""
REDEMPTION = "redemption { id status couponCode points } userErrors { code field }"
CANCEL = (
    f"mutation($i: CancelRedemptionInput!) {{ cancelRedemption(input: $i) {{ {REDEMPTION} }} }}"
)
USE = f"mutation($i: UseCouponInput!) {{ useCoupon(input: $i) {{ {REDEMPTION} }} }}"
REDEEM = f"mutation($i: RedeemRewardInput!) {{ redeemReward(input: $i) {{ {REDEMPTION} }} }}"
MEMBER_REWARDS = "{ rewards(first: 50) { edges { node { name } } } }"


async def _do(client: httpx.AsyncClient, query: str, token: str, **i: Any) -> dict[str, Any]:
    body = data(await ask(client, query, token, {"i": i}))
    payload: dict[str, Any] = next(iter(body.values()))
    return payload


async def _coupon_reward(client: httpx.AsyncClient, admin: str) -> str:
    made = await _do(
        client,
        CREATE,
        admin,
        name="Coffee coupon",
        pointsPrice=100,
        kind="COUPON",
        stock=0,
        idempotencyKey="coffee",
    )
    assert made["userErrors"] == [], made
    return str(made["reward"]["id"])


async def test_rewards_are_created_once_per_key_validated_archived_and_stocked(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)
    new = {"name": "Mug", "pointsPrice": 500, "stock": 3, "idempotencyKey": "mug"}
    made = await _do(client, CREATE, admin, **new)
    assert await _do(client, CREATE, admin, **new) == made
    other = await _do(client, CREATE, admin, **{**new, "pointsPrice": 600})
    assert [e["code"] for e in other["userErrors"]] == ["IDEMPOTENCY_CONFLICT"]
    bad = await _do(client, CREATE, admin, name="Free", pointsPrice=0, idempotencyKey="free")
    assert [(e["code"], e["field"]) for e in bad["userErrors"]] == [
        ("INVALID_INPUT", ["input", "pointsPrice"])
    ]
    reward = made["reward"]["id"]

    moved = await _do(
        client, STOCK, admin, rewardId=reward, delta=2, reason="delivery", idempotencyKey="s1"
    )
    again = await _do(
        client, STOCK, admin, rewardId=reward, delta=2, reason="delivery", idempotencyKey="s1"
    )
    assert moved["reward"]["stock"] == again["reward"]["stock"] == 5
    low = await _do(
        client, STOCK, admin, rewardId=reward, delta=-6, reason="broken", idempotencyKey="s2"
    )
    assert [e["code"] for e in low["userErrors"]] == ["OUT_OF_STOCK"]

    token = member_token(issuer, await make_member(runtime, clock))
    names = lambda body: [e["node"]["name"] for e in data(body)["rewards"]["edges"]]  # noqa: E731
    assert names(await ask(client, MEMBER_REWARDS, token)) == ["Mug"]
    archived = await _do(client, UPDATE, admin, rewardId=reward, active=False)
    assert archived["reward"]["active"] is False
    assert names(await ask(client, MEMBER_REWARDS, token)) == []
    logged = await runtime.mongo["audit"].find({"action": {"$regex": "^reward"}}).to_list(None)
    assert sorted(e["action"] for e in logged) == [
        "reward.archive",
        "reward.create",
        "reward.stock",
    ]


async def test_a_batch_of_codes_is_issued_one_code_per_redemption_under_concurrency(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)
    reward = await _coupon_reward(client, admin)
    batch = await _do(client, COUPONS, admin, rewardId=reward, generate=5, idempotencyKey="b1")
    assert (batch["added"], batch["reward"]["stock"]) == (5, 5)
    replay = await _do(client, COUPONS, admin, rewardId=reward, generate=5, idempotencyKey="b1")
    assert (replay["added"], replay["reward"]["stock"]) == (5, 5)
    duplicate = await _do(
        client, COUPONS, admin, rewardId=reward, codes=["A-1", "A-2", "A-1"], idempotencyKey="b2"
    )
    assert [e["code"] for e in duplicate["userErrors"]] == ["DUPLICATE_CODES"]
    uploaded = await _do(
        client, COUPONS, admin, rewardId=reward, codes=["A-1", "A-2"], idempotencyKey="b3"
    )
    assert uploaded["reward"]["stock"] == 7
    clash = await _do(
        client, COUPONS, admin, rewardId=reward, codes=["A-2", "A-3"], idempotencyKey="b4"
    )
    assert [e["code"] for e in clash["userErrors"]] == ["DUPLICATE_CODES"]
    assert "A-2" in clash["userErrors"][0]["message"]

    tokens = []
    for n in range(10):
        member = await make_member(runtime, clock, name=f"M{n}")
        await earn_points(runtime, clock, member, 100, f"e{n}")
        tokens.append(member_token(issuer, member))
    answers = await asyncio.gather(
        *(_do(client, REDEEM, token, rewardId=reward, idempotencyKey="r") for token in tokens)
    )
    issued = [a["redemption"]["couponCode"] for a in answers if a["redemption"]]
    refused = [a["userErrors"][0]["code"] for a in answers if not a["redemption"]]
    assert len(issued) == 7 and len(set(issued)) == 7 and refused == ["OUT_OF_STOCK"] * 3
    stored = (
        await runtime.mongo["coupon_codes"].find({"reward_id": reward_id(reward)}).to_list(None)
    )
    assert sorted(c["_id"] for c in stored if c["status"] == "issued") == sorted(issued)
    assert {"A-1", "A-2"} <= set(issued)
    assert await verify_balances(runtime.mongo) == []


def reward_id(global_id: str) -> str:
    from graphql_schema.ids import from_global_id

    return from_global_id(global_id, "Reward")[1]


async def test_cancelling_gives_points_and_stock_back_and_voids_the_coupon_but_not_a_used_one(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)
    partner = await partner_token(runtime, clock, issuer, scopes=("points:redeem",))
    reward = await _coupon_reward(client, admin)
    await _do(client, COUPONS, admin, rewardId=reward, generate=2, idempotencyKey="b1")
    member = await make_member(runtime, clock)
    await earn_points(runtime, clock, member, 300, "e1")
    token = member_token(issuer, member)
    first = (await _do(client, REDEEM, token, rewardId=reward, idempotencyKey="r1"))["redemption"]
    second = (await _do(client, REDEEM, token, rewardId=reward, idempotencyKey="r2"))["redemption"]
    assert (await get_balance(runtime.mongo, member, clock.now())).available == 100

    cancelled = await _do(client, CANCEL, admin, redemptionId=first["id"], reason="out of beans")
    assert cancelled["redemption"]["status"] == "CANCELLED"
    assert await _do(client, CANCEL, admin, redemptionId=first["id"], reason="again") == cancelled
    assert (
        await get_balance(runtime.mongo, member, clock.now())
    ).available == 200  # once, not twice
    stock = await runtime.mongo["rewards"].find_one({"_id": reward_id(reward)})
    assert stock is not None and stock["stock"] == 1
    void = await _do(client, USE, partner, code=first["couponCode"])
    assert [e["code"] for e in void["userErrors"]] == ["INVALID_INPUT"]

    used = await _do(client, USE, partner, code=second["couponCode"])
    assert used["redemption"]["id"] == second["id"]
    twice = await _do(client, USE, partner, code=second["couponCode"])
    assert [e["code"] for e in twice["userErrors"]] == ["COUPON_USED"]
    refused = await _do(client, CANCEL, admin, redemptionId=second["id"], reason="too late")
    assert [e["code"] for e in refused["userErrors"]] == ["COUPON_USED"]
    assert (await get_balance(runtime.mongo, member, clock.now())).available == 200
    kinds = await runtime.mongo["ledger"].find({"member_id": member}).sort("seq", 1).to_list(None)
    assert [(e["kind"], e["points"]) for e in kinds] == [
        ("EARN", 300),
        ("REDEEM", -100),
        ("REDEEM", -100),
        ("REVERSAL", 100),
    ]
    assert await verify_balances(runtime.mongo) == []


@pytest.mark.parametrize("kind", ["member", "partner", "admin without catalog scopes"])
async def test_catalog_management_is_forbidden_without_the_scope(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer, kind: str
) -> None:
    member = await make_member(runtime, clock)
    token = {
        "member": member_token(issuer, member),
        "partner": issuer.mint(PrincipalKind.PARTNER, "p1", scopes=ADMIN),
        "admin without catalog scopes": issuer.mint(
            PrincipalKind.ADMIN, "o", scopes=["audit:read"]
        ),
    }[kind]
    reward = to_global_id("Reward", "r_x")
    bodies = [
        await ask(
            client, CREATE, token, {"i": {"name": "X", "pointsPrice": 1, "idempotencyKey": "k"}}
        ),
        await ask(client, UPDATE, token, {"i": {"rewardId": reward, "active": False}}),
        await ask(
            client,
            STOCK,
            token,
            {"i": {"rewardId": reward, "delta": 1, "reason": "r", "idempotencyKey": "k"}},
        ),
        await ask(
            client,
            COUPONS,
            token,
            {"i": {"rewardId": reward, "generate": 1, "idempotencyKey": "k"}},
        ),
        await ask(
            client,
            CANCEL,
            token,
            {"i": {"redemptionId": to_global_id("Redemption", "rd_x"), "reason": "r"}},
        ),
        await ask(client, "{ catalog(first: 5) { edges { node { id } } } }", token),
    ]
    assert [codes(body) for body in bodies] == [["FORBIDDEN"]] * 6
    assert await runtime.mongo["rewards"].count_documents({}) == 0


SEARCH = """query($f: RedemptionFilterInput, $after: String) { redemptions(first: 2, after: $after,
  filter: $f) { edges { node { id memberId status points reward { name } } }
  pageInfo { hasNextPage endCursor } } }"""


async def _all_pages(client: httpx.AsyncClient, token: str, f: dict[str, Any] | None) -> list[Any]:
    nodes, after = [], None
    while True:
        page = data(await ask(client, SEARCH, token, {"f": f, "after": after}))["redemptions"]
        nodes += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def test_operators_find_redemptions_by_member_reward_or_status(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)
    tea = await _do(client, CREATE, admin, name="Tea", pointsPrice=10, idempotencyKey="t")
    cake = await _do(client, CREATE, admin, name="Cake", pointsPrice=20, idempotencyKey="c")
    tea_id, cake_id = tea["reward"]["id"], cake["reward"]["id"]
    one, two = await make_member(runtime, clock), await make_member(runtime, clock)
    made: dict[str, list[str]] = {}
    for member in (one, two):
        await earn_points(runtime, clock, member, 500, f"e-{member}")
        token = member_token(issuer, member)
        for n, reward in enumerate([tea_id, cake_id, tea_id]):
            clock.advance(timedelta(seconds=1))
            got = await _do(client, REDEEM, token, rewardId=reward, idempotencyKey=f"{member}{n}")
            made.setdefault(member, []).append(got["redemption"]["id"])
    await _do(client, CANCEL, admin, redemptionId=made[two][2], reason="wrong flavour")

    everything = await _all_pages(client, admin, None)
    assert [r["id"] for r in everything] == made[two][::-1] + made[one][::-1]  # newest first
    of_one = await _all_pages(client, admin, {"memberId": to_global_id("Member", one)})
    assert [r["id"] for r in of_one] == made[one][::-1]
    assert {r["memberId"] for r in of_one} == {to_global_id("Member", one)}
    teas = await _all_pages(client, admin, {"rewardId": tea_id})
    assert len(teas) == 4 and {r["reward"]["name"] for r in teas} == {"Tea"}
    cancelled = await _all_pages(client, admin, {"status": "CANCELLED"})
    assert [r["id"] for r in cancelled] == [made[two][2]]
    both = await _all_pages(
        client, admin, {"rewardId": tea_id, "memberId": to_global_id("Member", two)}
    )
    assert [r["status"] for r in both] == ["CANCELLED", "COMPLETED"]

    bad = await ask(client, SEARCH, admin, {"f": {"rewardId": to_global_id("Member", one)}})
    assert codes(bad) == ["BAD_USER_INPUT"]
    assert codes(await ask(client, SEARCH, admin, {"after": "eA"})) == ["BAD_USER_INPUT"]
    for token in (
        member_token(issuer, one),
        issuer.mint(PrincipalKind.ADMIN, "o", scopes=["audit:read"]),
    ):
        assert codes(await ask(client, SEARCH, token, {"f": None})) == ["FORBIDDEN"]


async def test_cancelled_points_come_back_under_their_own_expiry_and_expired_ones_stay_expired(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    """Points given back by a cancellation keep the terms they were issued under: giving them
    back as never-expiring points (as before) turned a redemption and its cancellation into a
    way round expiry."""
    from app.ledger import LotStatus, Rolling

    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)
    made = await _do(client, CREATE, admin, name="Kettle", pointsPrice=150, idempotencyKey="k")
    member = await make_member(runtime, clock)
    start = clock.now()
    await earn_points(runtime, clock, member, 100, "soon", policy=Rolling(days=10))
    await earn_points(runtime, clock, member, 100, "later", policy=Rolling(days=400))
    token = member_token(issuer, member)
    redeemed = await _do(client, REDEEM, token, rewardId=made["reward"]["id"], idempotencyKey="r")
    assert redeemed["userErrors"] == []  # 100 from the lot expiring soon, 50 from the later one

    clock.advance(timedelta(days=3))
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)  # tokens live minutes
    one = await _do(client, CANCEL, admin, redemptionId=redeemed["redemption"]["id"], reason="x")
    assert one["redemption"]["status"] == "CANCELLED"
    back = await runtime.mongo["ledger"].find_one({"member_id": member, "kind": "REVERSAL"})
    assert back["points"] == 150 and back["restored"]["expired_since"] == 0
    lots = (
        await runtime.mongo["lots"]
        .find({"member_id": member, "status": LotStatus.AVAILABLE.value})
        .to_list(None)
    )
    expiries = sorted((lot["expires_at"] - start).days for lot in lots if lot["remaining"])
    assert expiries == [10, 400, 400]  # the restored 100 and 50 keep 10 and 400 days
    assert (await get_balance(runtime.mongo, member, clock.now())).available == 200

    # a second member redeems the same way, and cancels after the soon lot's expiry has passed
    other = await make_member(runtime, clock)
    await earn_points(runtime, clock, other, 100, "o-soon", policy=Rolling(days=10))
    await earn_points(runtime, clock, other, 100, "o-later", policy=Rolling(days=400))
    theirs = await _do(
        client,
        REDEEM,
        member_token(issuer, other),
        rewardId=made["reward"]["id"],
        idempotencyKey="r2",
    )
    clock.advance(timedelta(days=11))
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)
    await _do(client, CANCEL, admin, redemptionId=theirs["redemption"]["id"], reason="late")
    late = await runtime.mongo["ledger"].find_one({"member_id": other, "kind": "REVERSAL"})
    assert late["points"] == 50 and late["restored"] == {
        "points": 150,
        "given_back": 50,
        "expired_since": 100,
    }
    assert "100 of the 150 points had expired since" in late["description"]
    assert (await get_balance(runtime.mongo, other, clock.now())).available == 100
    assert await verify_balances(runtime.mongo) == []


async def test_a_partner_voucher_is_accepted_by_its_partner_only(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    from app.partners import PartnerStatus, set_partner_status

    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)
    cinema = await partner_token(runtime, clock, issuer, ("points:redeem",), name="Cinema")
    cinema_id = (await runtime.mongo["partners"].find_one({"name": "Cinema"}))["_id"]
    shop = await partner_token(runtime, clock, issuer, ("points:redeem",), name="Shop")
    refused = [
        await _do(
            client,
            CREATE,
            admin,
            name="Ticket",
            pointsPrice=100,
            kind="PARTNER_VOUCHER",
            idempotencyKey="v0",
        ),
        await _do(
            client,
            CREATE,
            admin,
            name="Ticket",
            pointsPrice=100,
            kind="PARTNER_VOUCHER",
            partnerId="pt_nope",
            idempotencyKey="v1",
        ),
        await _do(
            client,
            CREATE,
            admin,
            name="Mug",
            pointsPrice=100,
            partnerId=cinema_id,
            idempotencyKey="v2",
        ),
    ]
    assert [[e["code"] for e in r["userErrors"]] for r in refused] == [
        ["INVALID_INPUT"],
        ["NOT_FOUND"],
        ["INVALID_INPUT"],
    ]
    made = await _do(
        client,
        CREATE,
        admin,
        name="Movie ticket",
        pointsPrice=100,
        kind="PARTNER_VOUCHER",
        partnerId=cinema_id,
        idempotencyKey="v3",
    )
    assert made["reward"]["kind"] == "PARTNER_VOUCHER"
    voucher = made["reward"]["id"]
    added = await _do(
        client, COUPONS, admin, rewardId=voucher, codes=["CIN-1", "CIN-2"], idempotencyKey="b1"
    )
    assert added["userErrors"] == []
    member = await make_member(runtime, clock)
    await earn_points(runtime, clock, member, 300, "e1")
    token = member_token(issuer, member)
    listed = data(
        await ask(client, "{ rewards(first: 10) { edges { node { name partnerName } } } }", token)
    )["rewards"]["edges"]
    assert {"name": "Movie ticket", "partnerName": "Cinema"} in [e["node"] for e in listed]
    twice = await _do(client, REDEEM, token, rewardId=voucher, idempotencyKey="r0", quantity=2)
    assert [e["code"] for e in twice["userErrors"]] == ["INVALID_INPUT"]  # one code at a time
    got = (await _do(client, REDEEM, token, rewardId=voucher, idempotencyKey="r1"))["redemption"]
    assert got["couponCode"] in {"CIN-1", "CIN-2"}

    elsewhere = await _do(client, USE, shop, code=got["couponCode"])
    assert [e["code"] for e in elsewhere["userErrors"]] == ["NOT_FOUND"]  # to the shop it is none
    used = await _do(client, USE, cinema, code=got["couponCode"])
    assert used["redemption"]["id"] == got["id"]
    again = await _do(client, USE, cinema, code=got["couponCode"])
    assert [e["code"] for e in again["userErrors"]] == ["COUPON_USED"]

    other = (await _do(client, REDEEM, token, rewardId=voucher, idempotencyKey="r2"))["redemption"]
    await set_partner_status(
        runtime.mongo, clock, cinema_id, PartnerStatus.SUSPENDED, actor="cli:test"
    )
    assert codes(await ask(client, USE, cinema, {"i": {"code": other["couponCode"]}})) == [
        "FORBIDDEN"
    ]  # a suspended partner's token no longer marks codes used


@pytest.mark.parametrize("code", ["A\x00B", "A\ud800B", "A\x1b[2JB", "A\u2028B"])
async def test_a_coupon_code_a_till_could_not_show_is_refused_and_nothing_is_added(
    client: httpx.AsyncClient,
    runtime: Runtime,
    clock: FrozenClock,
    issuer: TokenIssuer,
    code: str,
) -> None:
    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)
    reward = await _coupon_reward(client, admin)
    variables = {"i": {"rewardId": reward, "codes": ["GOOD-1", code], "idempotencyKey": "b1"}}
    # ASCII JSON: the surrogate travels as its \ud800 escape, which httpx would refuse to encode
    body = json.dumps({"query": COUPONS, "variables": variables}).encode()
    response = await client.post(
        "/graphql",
        content=body,
        headers={"content-type": "application/json", "authorization": f"Bearer {admin}"},
    )
    if code in ("A\x00B", "A\ud800B"):  # never reaches a resolver: the request is refused
        assert codes(response.json()) == ["BAD_USER_INPUT"]
    else:
        payload = data(response.json())["addCoupons"]
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("INVALID_INPUT", ["input", "codes"])
        ]
    assert await runtime.mongo["coupon_codes"].count_documents({}) == 0


async def test_a_tills_retry_of_its_coupon_use_with_its_key_answers_the_first_use_again(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)
    till = await partner_token(runtime, clock, issuer, ("points:redeem",), name="Till")
    other_till = await partner_token(runtime, clock, issuer, ("points:redeem",), name="Other")
    reward = await _coupon_reward(client, admin)
    added = await _do(
        client, COUPONS, admin, rewardId=reward, codes=["C-1", "C-2", "C-3"], idempotencyKey="b"
    )
    assert added["userErrors"] == []
    member = await make_member(runtime, clock)
    await earn_points(runtime, clock, member, 300, "e1")
    token = member_token(issuer, member)
    got = [
        (await _do(client, REDEEM, token, rewardId=reward, idempotencyKey=f"r{n}"))["redemption"]
        for n in range(3)
    ]
    first, second, third = (redemption["couponCode"] for redemption in got)

    # Twenty retries at once of one use, with its key: one use, twenty times the same answer.
    answers = await asyncio.gather(
        *(
            ask(client, USE, till, {"i": {"code": first, "idempotencyKey": "use-1"}})
            for _ in range(20)
        )
    )
    bodies = {json.dumps(answer, sort_keys=True) for answer in answers}
    assert len(bodies) == 1, bodies
    [body] = bodies
    assert json.loads(body)["data"]["useCoupon"]["redemption"]["id"] == got[0]["id"]
    used = await runtime.mongo["redemptions"].find_one({"coupon_code": first})
    assert used is not None and used["coupon_use_key"] == "use-1"

    # Without the key, or with another key, or by another till, a second use is COUPON_USED.
    for caller, extra in ((till, {}), (till, {"idempotencyKey": "use-9"}), (other_till, {})):
        again = await _do(client, USE, caller, code=first, **extra)
        assert [e["code"] for e in again["userErrors"]] == ["COUPON_USED"], (caller, extra)
    # The key on another code is a conflict, and that code stays unused.
    moved = await _do(client, USE, till, code=second, idempotencyKey="use-1")
    assert [(e["code"], e["field"]) for e in moved["userErrors"]] == [
        ("IDEMPOTENCY_CONFLICT", ["input", "idempotencyKey"])
    ]
    unused = await runtime.mongo["redemptions"].find_one({"coupon_code": second})
    assert unused is not None and unused.get("coupon_used_at") is None
    # One key raced on two codes: one of them is used, the other refused.
    raced = await asyncio.gather(
        _do(client, USE, till, code=second, idempotencyKey="use-2"),
        _do(client, USE, till, code=third, idempotencyKey="use-2"),
    )
    outcomes = sorted(bool(r["redemption"]) for r in raced)
    assert outcomes == [False, True], raced
    assert await runtime.mongo["redemptions"].count_documents({"coupon_use_key": "use-2"}) == 1
    long_key = await _do(client, USE, till, code=third, idempotencyKey="k" * 201)
    assert [e["code"] for e in long_key["userErrors"]] == ["INVALID_INPUT"]


@pytest.mark.parametrize(
    ("field", "at"),
    [("activeFrom", "0001-01-01T00:00:00+00:00"), ("activeUntil", "9999-12-31T23:59:59+00:00")],
)
async def test_a_reward_window_outside_the_years_2000_to_2199_is_refused_before_any_write(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer, field, at
) -> None:
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)
    made = {"name": "Mug", "pointsPrice": 100, "kind": "GOODS", "stock": 5}
    bad = await _do(client, CREATE, admin, **made, idempotencyKey="far", **{field: at})
    assert [(e["code"], e["field"]) for e in bad["userErrors"]] == [
        ("INVALID_INPUT", ["input", field])
    ]
    assert await runtime.mongo["rewards"].count_documents({}) == 0
    reward = (await _do(client, CREATE, admin, **made, idempotencyKey="near"))["reward"]
    changed = await _do(client, UPDATE, admin, rewardId=reward["id"], **{field: at})
    assert [(e["code"], e["field"]) for e in changed["userErrors"]] == [
        ("INVALID_INPUT", ["input", field])
    ]
