"""A replayed write answers exactly what the first did, byte for byte (issue 20, item 6).

Every idempotent mutation is sent twice with the same input, its instants given to the microsecond,
on a clock that stands at a microsecond too: the first answer (computed in memory) and the replay
(read back from MongoDB, which keeps milliseconds) must be the same bytes. Each payload selects
every field reachable without arguments, two objects deep, except those that say "this was a
replay" (they differ by design). importMembers is not among them: a rerun of the same files
answers what it did this time (all unchanged), not the first run's counts.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from graphql import GraphQLInterfaceType, GraphQLObjectType, get_named_type, is_leaf_type

from app.auth import PrincipalKind, TokenIssuer
from app.clock import FrozenClock
from app.program import PayWithPoints, save_program
from app.runtime import Runtime
from graphql_schema.ids import to_global_id
from graphql_schema.schema import schema
from tests.api.gql import ask, data, earn_points, make_member, member_token
from tests.importer.test_import import BALANCES, MEMBERS
from tests.importer.test_upload import multipart, uploader
from tests.partners.api import member_ref, partner_token
from tests.tiers.programs import PROGRAM

SAYS_REPLAY = {
    ("CheckInDay", "alreadyDone"),
    ("ActivityEarn", "replayed"),
    ("StartImportPayload", "replayed"),
}
SUB_MS = "2026-01-15T08:00:00.123456Z"
ADMIN_SCOPES = [
    "points:write",
    "members:write",
    "catalog:write",
    "draws:write",
    "import:write",
    "partners:write",
]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 1, 15, 9, 0, 0, 123456, tzinfo=UTC))


def selection(type_: Any, depth: int = 0) -> str:
    """Every field of the type without arguments, objects two levels deep."""
    parts = []
    for name, field in type_.fields.items():
        named = get_named_type(field.type)
        if field.args or (type_.name, name) in SAYS_REPLAY:
            continue
        if is_leaf_type(named):
            parts.append(name)
        elif isinstance(named, GraphQLObjectType | GraphQLInterfaceType) and depth < 2:
            inner = selection(named, depth + 1)
            if inner:
                parts.append(f"{name} {{ {inner} }}")
    return " ".join(parts)


def mutation(field: str, arguments: str) -> str:
    root = schema._schema.mutation_type
    assert root is not None
    payload = get_named_type(root.fields[field].type)
    variables = ", ".join(f"${name}: {kind}" for name, kind in _variables(arguments))
    call = ", ".join(f"{name}: ${name}" for name, _ in _variables(arguments))
    return f"mutation({variables}) {{ {field}({call}) {{ {selection(payload)} }} }}"


def _variables(arguments: str) -> list[tuple[str, str]]:
    return [tuple(part.split(":")) for part in arguments.split()]  # type: ignore[misc]


@dataclass
class World:
    client: httpx.AsyncClient
    runtime: Runtime
    clock: FrozenClock
    member: str
    member_token: str
    partner: str
    admin: str

    async def send(self, field: str, arguments: str, token: str, variables: dict[str, Any]) -> Any:
        query = mutation(field, arguments)
        response = await self.client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        return response

    async def ok(self, field: str, arguments: str, token: str, variables: dict[str, Any]) -> Any:
        body = (await self.send(field, arguments, token, variables)).json()
        payload = data(body)[field]
        assert not payload.get("userErrors"), payload
        return payload


@pytest.fixture
async def world(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> World:
    pay = PayWithPoints(point_value=Decimal("0.01"), max_share=Decimal("0.5"), step=10)
    await save_program(
        runtime.mongo,
        clock,
        PROGRAM.model_copy(update={"pay_with_points": pay, "return_window_days": 7}),
    )
    member = await make_member(runtime, clock, phone="+8613800138000")
    await earn_points(runtime, clock, member, 5_000, "seed")
    return World(
        client,
        runtime,
        clock,
        member,
        member_token(issuer, member),
        await partner_token(runtime, clock, issuer),
        issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN_SCOPES),
    )


Write = tuple[str, str, str, dict[str, Any]]  # field, arguments, token, variables
Arrange = Callable[[World], Awaitable[Write]]


async def record_purchase(w: World) -> Write:
    purchase = {
        "member": member_ref(w.member),
        "orderId": "O1",
        "occurredAt": SUB_MS,
        "lines": [
            {"lineId": "L1", "sku": "S", "category": "food", "quantity": 2, "amount": "128.5"}
        ],
    }
    return "recordPurchase", "input:RecordPurchaseInput!", w.partner, {"input": purchase}


async def record_refund(w: World) -> Write:
    field, arguments, token, variables = await record_purchase(w)
    await w.ok(field, arguments, token, variables)
    refund = {"orderId": "O1", "refundId": "R1", "lines": [{"lineId": "L1", "quantity": 1}]}
    return "recordRefund", "input:RecordRefundInput!", w.partner, {"input": refund}


async def hold_points(w: World) -> Write:
    held = {"member": member_ref(w.member), "points": 300, "orderId": "O2", "idempotencyKey": "h"}
    return "holdPoints", "input:HoldPointsInput!", w.partner, {"input": held}


async def capture_points(w: World) -> Write:
    held = (await w.ok(*await hold_points(w)))["hold"]
    capture = {"holdId": held["id"], "idempotencyKey": "c", "points": 200}
    return "capturePoints", "input:CapturePointsInput!", w.partner, {"input": capture}


async def register_partner(w: World) -> Write:
    partner = {"name": "Airport shop", "scopes": ["points:earn"], "idempotencyKey": "p"}
    return "registerPartner", "input:RegisterPartnerInput!", w.admin, {"input": partner}


async def check_in(w: World) -> Write:
    return "checkIn", "idempotencyKey:String", w.member_token, {"idempotencyKey": "day-1"}


async def record_activity(w: World) -> Write:
    activity = {"member": {"phone": "+8613800138000"}, "activity": "review", "reference": "rv-1"}
    return "recordActivity", "input:RecordActivityInput!", w.partner, {"input": activity}


async def adjust_points(w: World) -> Write:
    adjust = {
        "memberId": to_global_id("Member", w.member),
        "points": 25,
        "reason": "sorry",
        "idempotencyKey": "a",
    }
    return "adjustPoints", "input:AdjustPointsInput!", w.admin, {"input": adjust}


async def extend_expiry(w: World) -> Write:
    extend = {
        "memberId": to_global_id("Member", w.member),
        "until": "2028-01-01T00:00:00.987654Z",
        "reason": "goodwill",
        "idempotencyKey": "e",
    }
    return "extendExpiry", "input:ExtendExpiryInput!", w.admin, {"input": extend}


async def clear_points(w: World) -> Write:
    clear = {"filter": {"tier": "member"}, "reason": "programme ends", "idempotencyKey": "cl"}
    return "clearPoints", "input:ClearPointsInput!", w.admin, {"input": clear}


async def create_member(w: World) -> Write:
    new = {"name": "Han Meimei", "phone": "13900000000", "idempotencyKey": "m"}
    return "createMember", "input:CreateMemberInput!", w.admin, {"input": new}


async def create_reward(w: World) -> Write:
    reward = {
        "name": "Mug",
        "pointsPrice": 100,
        "stock": 5,
        "kind": "COUPON",
        "couponValidityDays": 30,
        "activeFrom": "2026-01-01T00:00:00.000999Z",
        "activeUntil": "2027-01-01T00:00:00.999999+08:00",
        "idempotencyKey": "r",
    }
    return "createReward", "input:CreateRewardInput!", w.admin, {"input": reward}


async def _reward(w: World) -> str:
    return str((await w.ok(*await create_reward(w)))["reward"]["id"])


async def move_stock(w: World) -> Write:
    move = {"rewardId": await _reward(w), "delta": 3, "reason": "delivery", "idempotencyKey": "s"}
    return "moveStock", "input:MoveStockInput!", w.admin, {"input": move}


async def add_coupons(w: World) -> Write:
    coupons = {"rewardId": await _reward(w), "generate": 3, "idempotencyKey": "cp"}
    return "addCoupons", "input:AddCouponsInput!", w.admin, {"input": coupons}


async def redeem_reward(w: World) -> Write:
    redeem = {"rewardId": await _reward(w), "idempotencyKey": "rd"}
    return "redeemReward", "input:RedeemRewardInput!", w.member_token, {"input": redeem}


async def create_draw(w: World) -> Write:
    draw = {
        "name": "Lucky wheel",
        "cost": 50,
        "startsAt": "2026-01-15T00:00:00.000001Z",
        "endsAt": "2026-02-15T00:00:00.999999Z",
        "idempotencyKey": "d",
        "noPrizeWeight": 1,
        "prizes": [{"id": "pts", "name": "500 points", "weight": 1, "points": 500}],
    }
    return "createDraw", "input:CreateDrawInput!", w.admin, {"input": draw}


async def enter_draw(w: World) -> Write:
    draw = (await w.ok(*await create_draw(w)))["draw"]
    enter = {"drawId": draw["id"], "idempotencyKey": "en"}
    return "enterDraw", "input:EnterDrawInput!", w.member_token, {"input": enter}


WRITES: dict[str, Arrange] = {
    arrange.__name__: arrange
    for arrange in (
        record_purchase,
        record_refund,
        hold_points,
        capture_points,
        register_partner,
        check_in,
        record_activity,
        adjust_points,
        extend_expiry,
        clear_points,
        create_member,
        create_reward,
        move_stock,
        add_coupons,
        redeem_reward,
        create_draw,
        enter_draw,
    )
}


@pytest.mark.parametrize("name", WRITES)
async def test_a_replayed_write_answers_the_same_bytes(world: World, name: str) -> None:
    field, arguments, token, variables = await WRITES[name](world)
    first = await world.send(field, arguments, token, variables)
    world.clock.advance(timedelta(seconds=1, microseconds=333))  # a retry comes a little later
    again = await world.send(field, arguments, token, variables)
    assert "errors" not in first.json() and not first.json()["data"][field].get("userErrors")
    assert again.content == first.content, (first.json(), again.json())


async def test_a_replayed_upload_answers_the_same_job(world: World) -> None:
    """startImport, as a multipart upload: the job as first answered (createdAt included)."""
    query = mutation("startImport", "input:StartImportInput!")
    headers = uploader(world.admin)
    upload = multipart("up-1", MEMBERS.encode(), BALANCES.encode())
    operations = json.loads(upload["data"]["operations"])
    upload["data"]["operations"] = json.dumps(
        {"query": query, "variables": {"input": operations["variables"]["i"]}}
    )
    upload["data"]["map"] = upload["data"]["map"].replace("variables.i.", "variables.input.")
    first = await world.client.post("/graphql", headers=headers, **upload)
    world.clock.advance(timedelta(seconds=1, microseconds=333))
    again = await world.client.post("/graphql", headers=headers, **upload)
    assert first.json()["data"]["startImport"]["job"]["createdAt"].endswith(".123+00:00")
    assert again.content == first.content


async def test_an_instant_without_an_offset_or_past_the_calendar_is_refused(world: World) -> None:
    field, arguments, token, variables = await record_purchase(world)
    for wrong in ("2026-01-15T08:00:00", "0001-01-01T00:00:00+14:00", "2026-01-15T08:00:00Z" * 4):
        variables["input"]["occurredAt"] = wrong
        body = (await world.send(field, arguments, token, variables)).json()
        assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], wrong
    assert await world.runtime.mongo["orders"].count_documents({}) == 0


async def test_every_instant_is_written_to_the_millisecond_with_its_offset(world: World) -> None:
    field, arguments, token, variables = await record_purchase(world)
    purchase = (await world.ok(field, arguments, token, variables))["purchase"]
    assert purchase["availableAt"] == "2026-01-22T08:00:00.123+00:00"
    assert purchase["entry"]["occurredAt"] == "2026-01-15T08:00:00.123+00:00"
    stored = await world.runtime.mongo["orders"].find_one({})
    assert stored["occurred_at"] == datetime(2026, 1, 15, 8, 0, 0, 123000, tzinfo=UTC)
    answer = await ask(world.client, "{ me { joinedAt } }", world.member_token)
    assert data(answer)["me"]["joinedAt"] == "2026-01-15T09:00:00.123+00:00"
