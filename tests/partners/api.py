"""Helpers for the partner API tests: a program, registered partners and their tokens, and the
documents a till sends."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from app.auth import PrincipalKind, TokenIssuer
from app.clock import Clock
from app.partners import register_partner
from app.program import Campaign, PayWithPoints, Program, Tier, save_program
from app.runtime import Runtime
from tests.api.gql import ask, data

PROGRAM = Program(
    name="Test Mall",
    currency="积分",
    timezone="Asia/Shanghai",
    tiers=(
        Tier(code="member", name="Member", threshold=0),
        Tier(code="gold", name="Gold", threshold=10_000, multiplier=Decimal("1.5")),
    ),
    pay_with_points=PayWithPoints(point_value=Decimal("0.01"), max_share=Decimal("0.5"), step=10),
)


def with_campaign(budget: int) -> Program:
    campaign = Campaign(id="double", name="Double points", multiplier=Decimal(2), budget=budget)
    return PROGRAM.model_copy(update={"campaigns": (campaign,)})


async def make_program(runtime: Runtime, clock: Clock, program: Program = PROGRAM) -> None:
    await save_program(runtime.mongo, clock, program)


async def partner_token(
    runtime: Runtime,
    clock: Clock,
    issuer: TokenIssuer,
    scopes: tuple[str, ...] = ("points:earn", "points:redeem", "points:read"),
    name: str = "Till 1",
) -> str:
    partner = await register_partner(
        runtime.mongo, clock, name=name, scopes=list(scopes), actor="cli:test"
    )
    return issuer.mint(PrincipalKind.PARTNER, partner.id, scopes=scopes)


async def fresh_token(
    runtime: Runtime,
    issuer: TokenIssuer,
    scopes: tuple[str, ...] = ("points:earn", "points:redeem", "points:read"),
    name: str = "Till 1",
) -> str:
    """Another token of a registered partner (the first expired: the test moved the clock on)."""
    partner = await runtime.mongo["partners"].find_one({"name": name})
    assert partner is not None
    return issuer.mint(PrincipalKind.PARTNER, partner["_id"], scopes=scopes)


PURCHASE = """
mutation($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) {
    purchase { orderId total status availableAt memberId
      breakdown { rule points lineId ruleVersion }
      entry { id kind points } }
    userErrors { code field message }
  }
}"""

REFUND = """
mutation($input: RecordRefundInput!) {
  recordRefund(input: $input) {
    refund { orderId refundId pointsReversed pointsReturned }
    userErrors { code field message }
  }
}"""

BALANCE = """
query($member: MemberRefInput!) {
  memberBalance(member: $member) { available pending held debt }
}"""


def purchase_input(
    member_id: str,
    order_id: str,
    at: str = "2026-01-15T08:00:00Z",
    amounts: tuple[str, ...] = ("100",),
    **extra: Any,
) -> dict[str, Any]:
    lines = [
        {"lineId": f"L{n}", "sku": f"SKU{n}", "category": "food", "quantity": 1, "amount": amount}
        for n, amount in enumerate(amounts, start=1)
    ]
    return {
        "member": {"memberNo": None, "id": None, "phone": None} | member_ref(member_id),
        "orderId": order_id,
        "occurredAt": at,
        "lines": lines,
        **extra,
    }


def member_ref(member_id: str) -> dict[str, str]:
    from graphql_schema.ids import to_global_id

    return {"id": to_global_id("Member", member_id)}


async def post_purchase(
    client: httpx.AsyncClient, token: str, payload: dict[str, Any]
) -> dict[str, Any]:
    result: dict[str, Any] = data(await ask(client, PURCHASE, token, {"input": payload}))[
        "recordPurchase"
    ]
    return result


async def post_refund(
    client: httpx.AsyncClient, token: str, payload: dict[str, Any]
) -> dict[str, Any]:
    result: dict[str, Any] = data(await ask(client, REFUND, token, {"input": payload}))[
        "recordRefund"
    ]
    return result


async def balance(client: httpx.AsyncClient, token: str, member_id: str) -> dict[str, int]:
    body = data(await ask(client, BALANCE, token, {"member": member_ref(member_id)}))
    result: dict[str, int] = body["memberBalance"]
    return result


QUOTE = """
query($member: MemberRefInput!, $amount: String!) {
  quoteOffset(member: $member, orderAmount: $amount) { points value pointValue available }
}"""
HOLD = """
mutation($input: HoldPointsInput!) {
  holdPoints(input: $input) { hold { id points captured status orderId } userErrors { code field } }
}"""
CAPTURE = """
mutation($input: CapturePointsInput!) {
  capturePoints(input: $input) { entry { kind points } userErrors { code field } }
}"""
RELEASE = """
mutation($id: ID!) {
  releasePoints(holdId: $id) { hold { status points } userErrors { code field } }
}"""


async def hold(client, token, member, points, order_id, key, **extra) -> dict[str, Any]:
    body = {
        "member": member_ref(member),
        "points": points,
        "orderId": order_id,
        "idempotencyKey": key,
        **extra,
    }
    result = data(await ask(client, HOLD, token, {"input": body}))["holdPoints"]
    assert result["userErrors"] == [], result
    held: dict[str, Any] = result["hold"]
    return held


async def capture(client, token, hold_id, key, points=None) -> dict[str, Any]:
    body = {"holdId": hold_id, "idempotencyKey": key, "points": points}
    result: dict[str, Any] = data(await ask(client, CAPTURE, token, {"input": body}))[
        "capturePoints"
    ]
    return result
