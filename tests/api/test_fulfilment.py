"""Goods that ship, over HTTP: the shipping address at redemption (each field refused by name,
nothing written), then PENDING -> SHIPPED -> DELIVERED -> RETURNED or PENDING -> CANCELLED with
the points (under their own expiry) and stock back, idempotent by key and by state, audited,
logged as events and notified to the member; illegal moves refused; racing movers give the
points back once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx

from app.auth import PrincipalKind, TokenIssuer
from app.clock import FrozenClock
from app.ledger import LotStatus, Rolling, get_balance, verify_balances
from app.runtime import Runtime
from graphql_schema.ids import from_global_id
from tests.api.gql import ask, data, earn_points, make_member, make_program, member_token
from tests.partners.api import partner_token

ADMIN = ["catalog:read", "catalog:write"]
CREATE = """mutation($i: CreateRewardInput!) { createReward(input: $i) {
  reward { id ships stock } userErrors { code field } } }"""
FIELDS = """id status carrier trackingNumber points statusChangedAt
  shippingAddress { name phone line1 line2 city region postalCode country }"""
REDEEM = f"""mutation($i: RedeemRewardInput!) {{ redeemReward(input: $i) {{
  redemption {{ {FIELDS} }} userErrors {{ code field message }} }} }}"""
MOVE = f"""mutation($i: UpdateRedemptionInput!) {{ updateRedemption(input: $i) {{
  redemption {{ {FIELDS} }} userErrors {{ code field message }} }} }}"""
CANCEL = """mutation($i: CancelRedemptionInput!) { cancelRedemption(input: $i) {
  redemption { status } userErrors { code field } } }"""
MINE = """{ me { redemptions(first: 10) { edges { node { status carrier trackingNumber
  shippingAddress { city } } } } } }"""
ADDRESS = {
    "name": "韩梅梅",
    "phone": "+86 138 0000 0001",
    "line1": "南京西路 1266 号 恒隆广场 12 楼",
    "city": "上海",
    "region": "上海市",
    "postalCode": "200040",
    "country": "cn",
}


async def _do(client: httpx.AsyncClient, query: str, token: str, **i: Any) -> dict[str, Any]:
    body = data(await ask(client, query, token, {"i": i}))
    payload: dict[str, Any] = next(iter(body.values()))
    return payload


def _errors(payload: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


async def _setup(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> tuple[str, str, str]:
    """A reward that ships (500 points, 3 in stock) and a member with 2,000 points."""
    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)
    made = await _do(
        client, CREATE, admin, name="Tea set", pointsPrice=500, stock=3, ships=True,
        idempotencyKey="tea",
    )  # fmt: skip
    assert made["userErrors"] == [] and made["reward"]["ships"] is True, made
    member = await make_member(runtime, clock)
    await earn_points(runtime, clock, member, 2000, "e1")
    return made["reward"]["id"], member, admin


async def _available(runtime: Runtime, clock: FrozenClock, member: str) -> int:
    return (await get_balance(runtime.mongo, member, clock.now())).available


async def _stock(runtime: Runtime) -> int:
    reward = await runtime.mongo["rewards"].find_one({"name": "Tea set"})
    assert reward is not None
    return int(reward["stock"])


async def test_a_reward_that_ships_takes_a_bounded_address_refused_by_field_before_any_write(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    reward, member, _ = await _setup(client, runtime, clock, issuer)
    token = member_token(issuer, member)
    bad = [
        ({}, ["input", "shippingAddress"]),  # none given
        ({**ADDRESS, "postalCode": "2000<40>"}, ["input", "shippingAddress", "postalCode"]),
        ({**ADDRESS, "name": "x" * 65}, ["input", "shippingAddress", "name"]),
        ({**ADDRESS, "phone": "call me"}, ["input", "shippingAddress", "phone"]),
        ({**ADDRESS, "line1": "a\nb"}, ["input", "shippingAddress", "line1"]),
        ({**ADDRESS, "line2": "y" * 201}, ["input", "shippingAddress", "line2"]),
        ({**ADDRESS, "city": "  "}, ["input", "shippingAddress", "city"]),
        ({**ADDRESS, "region": "r" * 65}, ["input", "shippingAddress", "region"]),
        ({**ADDRESS, "country": "CHN"}, ["input", "shippingAddress", "country"]),
    ]
    for n, (address, field) in enumerate(bad):
        extra = {"shippingAddress": address} if address else {}
        refused = await _do(
            client, REDEEM, token, rewardId=reward, idempotencyKey=f"bad{n}", **extra
        )
        assert _errors(refused) == [("INVALID_INPUT", field)], (address, refused)
    assert await runtime.mongo["redemptions"].count_documents({}) == 0
    assert await _available(runtime, clock, member) == 2000 and await _stock(runtime) == 3

    made = await _do(
        client, REDEEM, token, rewardId=reward, idempotencyKey="ok", shippingAddress=ADDRESS
    )
    assert made["userErrors"] == []
    redemption = made["redemption"]
    assert redemption["status"] == "PENDING" and redemption["carrier"] is None
    assert redemption["shippingAddress"] == {**ADDRESS, "country": "CN", "line2": None}
    assert await _available(runtime, clock, member) == 1500 and await _stock(runtime) == 2


async def test_goods_move_pending_shipped_delivered_returned_with_points_back_once(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    reward, member, admin = await _setup(client, runtime, clock, issuer)
    token = member_token(issuer, member)
    made = await _do(
        client, REDEEM, token, rewardId=reward, idempotencyKey="r1", shippingAddress=ADDRESS
    )
    rid = made["redemption"]["id"]

    async def move(key: str, **i: Any) -> dict[str, Any]:
        return await _do(client, MOVE, admin, redemptionId=rid, idempotencyKey=key, **i)

    assert _errors(await move("d0", status="DELIVERED")) == [
        ("ILLEGAL_TRANSITION", ["input", "status"])
    ]
    assert _errors(await move("s0", status="SHIPPED", carrier="SF")) == [
        ("INVALID_INPUT", ["input", "trackingNumber"])
    ]
    assert _errors(await move("c0", status="CANCELLED")) == [("INVALID_INPUT", ["input", "reason"])]
    assert _errors(await move("p0", status="PENDING")) == [("INVALID_INPUT", ["input", "status"])]

    clock.advance(timedelta(minutes=1))
    shipped = await move("s1", status="SHIPPED", carrier="SF Express", trackingNumber="SF1234567")
    assert shipped["userErrors"] == []
    assert (shipped["redemption"]["status"], shipped["redemption"]["trackingNumber"]) == (
        "SHIPPED",
        "SF1234567",
    )
    # idempotent by key, and by state; the key on another move is a conflict
    assert await move("s1", status="SHIPPED", carrier="SF Express", trackingNumber="SF1234567") == (
        shipped
    )
    assert await move("s2", status="SHIPPED", carrier="SF Express", trackingNumber="SF1234567") == (
        shipped
    )
    assert _errors(await move("s1", status="DELIVERED")) == [
        ("IDEMPOTENCY_CONFLICT", ["input", "idempotencyKey"])
    ]
    assert _errors(
        await move("s3", status="SHIPPED", carrier="EMS", trackingNumber="EMS99999")
    ) == [("ILLEGAL_TRANSITION", ["input", "status"])]
    assert _errors(await move("c1", status="CANCELLED", reason="late")) == [
        ("ILLEGAL_TRANSITION", ["input", "status"])
    ]

    mine = data(await ask(client, MINE, token))["me"]["redemptions"]["edges"]
    assert [e["node"] for e in mine] == [
        {
            "status": "SHIPPED",
            "carrier": "SF Express",
            "trackingNumber": "SF1234567",
            "shippingAddress": {"city": "上海"},
        }
    ]

    delivered = await move("d1", status="DELIVERED")
    assert delivered["redemption"]["status"] == "DELIVERED"
    assert await _available(runtime, clock, member) == 1500 and await _stock(runtime) == 2

    # ten returns at once, each under its own key: the points and the unit come back once
    returns = await asyncio.gather(
        *(move(f"ret{n}", status="RETURNED", reason="damaged in transit") for n in range(10))
    )
    assert {r["redemption"]["status"] for r in returns} == {"RETURNED"}, returns
    assert await _available(runtime, clock, member) == 2000 and await _stock(runtime) == 3
    # the older cancelRedemption gives nothing back a second time
    again = await _do(client, CANCEL, admin, redemptionId=rid, reason="twice")
    assert _errors(again) == [("ILLEGAL_TRANSITION", ["input", "status"])]
    assert await _available(runtime, clock, member) == 2000
    assert await verify_balances(runtime.mongo) == []

    mongo = runtime.mongo
    raw = from_global_id(rid, "Redemption")[1]
    events = await mongo["events"].find({"member_id": member}).to_list(None)
    moved = sorted(e["type"] for e in events if e["type"].startswith("redemption."))
    assert moved == [
        "redemption.created",
        "redemption.fulfilled",
        "redemption.returned",
        "redemption.shipped",
    ]
    shipped_event = next(e for e in events if e["type"] == "redemption.shipped")
    assert shipped_event["data"]["tracking_number"] == "SF1234567"
    audit = await mongo["audit"].find({"target": f"redemption:{raw}"}).to_list(None)
    assert sorted(a["action"] for a in audit) == [
        "redemption.delivered",
        "redemption.returned",
        "redemption.shipped",
    ]
    told = await mongo["notifications"].find({"member_id": member}).to_list(None)
    assert sorted(n["kind"] for n in told) == [
        "redemption_delivered",
        "redemption_returned",
        "redemption_shipped",
    ]


async def test_racing_cancel_and_ship_make_one_move_and_points_come_back_under_their_expiry(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)
    made = await _do(
        client, CREATE, admin, name="Tea set", pointsPrice=500, stock=3, ships=True,
        idempotencyKey="tea",
    )  # fmt: skip
    member = await make_member(runtime, clock)
    start = clock.now()
    await earn_points(runtime, clock, member, 500, "soon", policy=Rolling(days=30))
    token = member_token(issuer, member)
    redeemed = await _do(
        client,
        REDEEM,
        token,
        rewardId=made["reward"]["id"],
        idempotencyKey="r",
        shippingAddress=ADDRESS,
    )
    rid = redeemed["redemption"]["id"]
    assert await _available(runtime, clock, member) == 0

    cancels = [
        _do(client, MOVE, admin, redemptionId=rid, idempotencyKey=f"c{n}", status="CANCELLED",
            reason="out of stock at the warehouse")
        for n in range(6)
    ]  # fmt: skip
    ships = [
        _do(client, MOVE, admin, redemptionId=rid, idempotencyKey=f"s{n}", status="SHIPPED",
            carrier="SF Express", trackingNumber="SF7654321")
        for n in range(6)
    ]  # fmt: skip
    answers = await asyncio.gather(*cancels, *ships)
    final = await runtime.mongo["redemptions"].find_one(
        {"_id": from_global_id(rid, "Redemption")[1]}
    )
    assert final is not None
    won = final["status"]
    for answer in answers:
        if answer["userErrors"]:
            assert _errors(answer) == [("ILLEGAL_TRANSITION", ["input", "status"])]
        else:
            assert answer["redemption"]["status"] == won.upper()
    assert len(final["fulfilment"]) == 1
    if won == "cancelled":
        assert await _available(runtime, clock, member) == 500
        lots = (
            await runtime.mongo["lots"]
            .find({"member_id": member, "status": LotStatus.AVAILABLE.value, "remaining": 500})
            .to_list(None)
        )
        assert [(lot["expires_at"] - start).days for lot in lots] == [30]
    else:
        assert await _available(runtime, clock, member) == 0
    assert await runtime.mongo["events"].count_documents({"type": f"redemption.{won}"}) <= 1
    assert await verify_balances(runtime.mongo) == []


async def test_a_reward_that_does_not_ship_refuses_an_address_and_cannot_be_moved(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)
    made = await _do(client, CREATE, admin, name="Mug", pointsPrice=100, idempotencyKey="mug")
    bad = await _do(
        client, CREATE, admin, name="Code", pointsPrice=1, kind="COUPON", ships=True,
        idempotencyKey="c",
    )  # fmt: skip
    assert [e["code"] for e in bad["userErrors"]] == ["INVALID_INPUT"], bad
    member = await make_member(runtime, clock)
    await earn_points(runtime, clock, member, 500, "e")
    token = member_token(issuer, member)
    refused = await _do(
        client,
        REDEEM,
        token,
        rewardId=made["reward"]["id"],
        idempotencyKey="r0",
        shippingAddress=ADDRESS,
    )
    assert _errors(refused) == [("INVALID_INPUT", ["input", "shippingAddress"])]
    done = await _do(client, REDEEM, token, rewardId=made["reward"]["id"], idempotencyKey="r1")
    assert done["redemption"]["status"] == "COMPLETED"
    moved = await _do(
        client, MOVE, admin, redemptionId=done["redemption"]["id"], idempotencyKey="k",
        status="SHIPPED", carrier="SF", trackingNumber="SF123456",
    )  # fmt: skip
    assert _errors(moved) == [("ILLEGAL_TRANSITION", ["input", "status"])]
    forbidden = await ask(
        client,
        MOVE,
        token,
        {
            "i": {
                "redemptionId": done["redemption"]["id"],
                "idempotencyKey": "k",
                "status": "DELIVERED",
            }
        },
    )
    assert [e["extensions"]["code"] for e in forbidden["errors"]] == ["FORBIDDEN"]


UPLOAD = """mutation($i: UploadTrackingNumbersInput!) { uploadTrackingNumbers(input: $i) {
  shipped unchanged refused { line field message } userErrors { code field } } }"""


async def test_a_csv_of_tracking_numbers_ships_each_row_and_reports_refused_lines_by_number(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    reward, member, admin = await _setup(client, runtime, clock, issuer)
    token = member_token(issuer, member)
    ids = []
    for n in range(3):
        made = await _do(
            client, REDEEM, token, rewardId=reward, idempotencyKey=f"r{n}", shippingAddress=ADDRESS
        )
        ids.append(made["redemption"]["id"])
    cancelled = await _do(
        client, MOVE, admin, redemptionId=ids[2], idempotencyKey="c", status="CANCELLED",
        reason="member asked",
    )  # fmt: skip
    assert cancelled["userErrors"] == []
    text = (
        "redemption_id,carrier,tracking_number\r\n"
        f"{ids[0]},SF Express,SF1000001\r\n"
        f"not-an-id,SF Express,SF1000002\r\n"
        f"{ids[1]},EMS,\r\n"  # no tracking number
        f'{ids[1]},"EMS",EMS2000002\r\n'
        f"{ids[2]},SF Express,SF1000003\r\n"  # cancelled: cannot ship
    )
    first = await _do(client, UPLOAD, admin, csv=text, idempotencyKey="u1")
    assert (first["shipped"], first["unchanged"]) == (2, 0), first
    assert [(r["line"], r["field"]) for r in first["refused"]] == [
        (3, "redemption_id"),
        (4, "tracking_number"),
        (6, "status"),
    ]
    again = await _do(client, UPLOAD, admin, csv=text, idempotencyKey="u2")
    assert (again["shipped"], again["unchanged"]) == (0, 2)
    mine = data(await ask(client, MINE, token))["me"]["redemptions"]["edges"]
    assert sorted((e["node"]["status"], e["node"]["trackingNumber"]) for e in mine) == [
        ("CANCELLED", None),
        ("SHIPPED", "EMS2000002"),
        ("SHIPPED", "SF1000001"),
    ]
    bad = await _do(client, UPLOAD, admin, csv="id,carrier\r\nx,y\r\n", idempotencyKey="u3")
    assert _errors(bad) == [("INVALID_INPUT", ["input", "csv"])]


SAVE = """mutation($i: SaveAddressInput!) { saveAddress(input: $i) {
  saved { id address { city line1 } } userErrors { code field } } }"""
DELETE = """mutation($i: DeleteAddressInput!) { deleteAddress(input: $i) {
  deletedId userErrors { code field } } }"""
BOOK = "{ me { addresses { id address { line1 country } } } }"


async def test_the_address_book_holds_ten_under_concurrent_saves_and_redeems_by_address_id(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    reward, member, _ = await _setup(client, runtime, clock, issuer)
    token = member_token(issuer, member)
    other = member_token(issuer, await make_member(runtime, clock, name="Han Meimei"))
    refused = await _do(client, SAVE, token, address={**ADDRESS, "postalCode": ""})
    assert _errors(refused) == [("INVALID_INPUT", ["input", "address", "postalCode"])]
    first = await _do(client, SAVE, token, address=ADDRESS)
    assert await _do(client, SAVE, token, address=ADDRESS) == first  # a retried save adds nothing
    saves = await asyncio.gather(
        *(_do(client, SAVE, token, address={**ADDRESS, "line1": f"{n} 号"}) for n in range(14))
    )
    full = [s for s in saves if s["userErrors"]]
    assert len(full) == 5 and {c for s in full for c, _ in _errors(s)} == {"ADDRESS_BOOK_FULL"}
    book = data(await ask(client, BOOK, token))["me"]["addresses"]
    assert len(book) == 10 and {a["address"]["country"] for a in book} == {"CN"}

    saved_id = first["saved"]["id"]
    assert _errors(await _do(client, DELETE, other, addressId=saved_id)) == [
        ("NOT_FOUND", ["input", "addressId"])
    ]
    not_theirs = await _do(client, REDEEM, other, rewardId=reward, idempotencyKey="x",
                           addressId=saved_id)  # fmt: skip
    assert _errors(not_theirs) == [("NOT_FOUND", ["input", "addressId"])]
    changed = await _do(
        client, SAVE, token, addressId=saved_id, address={**ADDRESS, "line1": "淮海中路 1 号"}
    )
    assert changed["saved"] == {
        "id": saved_id,
        "address": {"city": "上海", "line1": "淮海中路 1 号"},
    }
    made = await _do(client, REDEEM, token, rewardId=reward, idempotencyKey="r", addressId=saved_id)
    assert made["redemption"]["shippingAddress"]["line1"] == "淮海中路 1 号"
    assert (await _do(client, DELETE, token, addressId=saved_id))["deletedId"] == saved_id
    assert len(data(await ask(client, BOOK, token))["me"]["addresses"]) == 9
    # the redemption keeps the address it was sent to
    mine = data(await ask(client, MINE, token))["me"]["redemptions"]["edges"]
    assert mine[0]["node"]["shippingAddress"] == {"city": "上海"}


PARTNER_MOVE = """mutation($i: UpdateRedemptionInput!) { updateFulfilment(input: $i) {
  redemption { status trackingNumber } userErrors { code field } } }"""


async def test_a_partners_fulfilment_system_moves_redemptions_with_its_own_scope_only(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    reward, member, _ = await _setup(client, runtime, clock, issuer)
    made = await _do(
        client, REDEEM, member_token(issuer, member), rewardId=reward, idempotencyKey="r",
        shippingAddress=ADDRESS,
    )  # fmt: skip
    rid = made["redemption"]["id"]
    warehouse = await partner_token(runtime, clock, issuer, ("fulfilment:write",), "Warehouse")
    till = await partner_token(runtime, clock, issuer, ("points:redeem",), "Till")
    move = {"redemptionId": rid, "idempotencyKey": "w1", "status": "SHIPPED",
            "carrier": "ZTO", "trackingNumber": "ZTO-778899"}  # fmt: skip
    refused = await ask(client, PARTNER_MOVE, till, {"i": move})
    assert [e["extensions"]["code"] for e in refused["errors"]] == ["FORBIDDEN"]
    shipped = await _do(client, PARTNER_MOVE, warehouse, **move)
    assert shipped["redemption"] == {"status": "SHIPPED", "trackingNumber": "ZTO-778899"}
    delivered = await _do(client, PARTNER_MOVE, warehouse, redemptionId=rid,
                          idempotencyKey="w2", status="DELIVERED")  # fmt: skip
    assert delivered["redemption"]["status"] == "DELIVERED"
    raw = from_global_id(rid, "Redemption")[1]
    audit = await runtime.mongo["audit"].find({"target": f"redemption:{raw}"}).to_list(None)
    warehouse_id = (await runtime.mongo["partners"].find_one({"name": "Warehouse"}) or {})["_id"]
    assert sorted((a["action"], a["actor"]) for a in audit) == [
        ("redemption.delivered", f"partner:{warehouse_id}"),
        ("redemption.shipped", f"partner:{warehouse_id}"),
    ]
