"""Small helpers for the API tests: post a document, read codes, and arrange members and points."""

from __future__ import annotations

from typing import Any

import httpx

from app.auth import PrincipalKind, TokenIssuer
from app.clock import Clock
from app.ledger import OpeningEarn, earn, open_books
from app.ledger.book import Book
from app.ledger.models import Balance
from app.ledger.state import Request
from app.ledger.store import number_entries
from app.members import create_member
from app.program import Program, Tier, save_program
from app.rewards import Reward
from app.runtime import Runtime

PROGRAM = Program(
    name="Test Mall",
    currency="积分",
    timezone="Asia/Shanghai",
    tiers=(
        Tier(code="member", name="Member", threshold=0),
        Tier(code="gold", name="Gold", threshold=10_000),
    ),
)


async def ask(
    client: httpx.AsyncClient,
    query: str,
    token: str | None = None,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    response = await client.post("/graphql", json=body, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def data(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body["errors"]
    result: dict[str, Any] = body["data"]
    return result


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


async def make_program(runtime: Runtime, clock: Clock) -> None:
    await save_program(runtime.mongo, clock, PROGRAM)


async def make_member(
    runtime: Runtime,
    clock: Clock,
    *,
    name: str = "Li Lei",
    phone: str | None = None,
    tier: str = "member",
) -> str:
    member = await create_member(runtime.mongo, clock, name=name, tier=tier, phone=phone)
    return member.id


def member_token(issuer: TokenIssuer, member_id: str) -> str:
    return issuer.mint(PrincipalKind.MEMBER, member_id)


async def earn_points(
    runtime: Runtime, clock: Clock, member_id: str, points: int, key: str, **options: Any
) -> None:
    await earn(
        runtime.mongo, clock, member_id=member_id, points=points, idempotency_key=key, **options
    )


async def make_reward(runtime: Runtime, reward: Reward) -> None:
    await runtime.mongo["rewards"].insert_one(reward.model_dump(by_alias=True, mode="python"))


async def seed_history(
    runtime: Runtime, clock: Clock, member_id: str, count: int, *, earning: bool = True
) -> None:
    """`count` entries made by the ledger's rules and written in bulk (arranging, not testing):
    earns of 1 point each, or with `earning=False` expiry extensions (0 points, no lot to write)."""
    mongo = runtime.mongo
    if earning:
        earns = [OpeningEarn(1, clock.now())] * count
        await open_books(mongo, {member_id: earns}, clock.now())
        return
    book = Book(Balance(member_id), [], clock.now())
    for n in range(count):
        book.extend(clock.now(), Request(f"seed:{member_id}:{n}", "seed"))
    account = {"_id": member_id, **book.account_document(), "seq": number_entries(book)}
    await mongo["accounts"].insert_one(account)
    if book.entries:
        await mongo["ledger"].insert_many(book.entries)
