"""Small helpers for the API tests: post a document, read codes, and arrange members and points."""

from __future__ import annotations

from typing import Any

import httpx

from app.auth.principals import PrincipalKind
from app.auth.tokens import TokenIssuer
from app.clock import Clock
from app.db import Document
from app.ledger import EntryKind, earn
from app.ledger.book import AccountState, Book, LotState, Request
from app.ledger.earn import policy_stamp
from app.ledger.store import number_entries
from app.members.service import create_member
from app.program.expiry import Never
from app.program.models import Program, Tier
from app.program.service import save_program
from app.rewards.models import Reward
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
    earns of 1 point each, or with `earning=False` expiry extensions (0 points, no lot to write).

    Each entry gets a book of its own with the account carried over, so arranging 10,000 stays
    linear; each earn's running balance is then set as one book would have set it.
    """
    account = AccountState(member_id)
    lots: list[Document] = []
    entries: list[Document] = []
    for n in range(count):
        book = Book(account, [], clock.now())
        request = Request(f"seed:{member_id}:{n}", "seed")
        if earning:
            policy = policy_stamp(Never(), 1, "UTC")
            book.credit(
                EntryKind.EARN, 1, request, earned_at=clock.now(), available_at=None,
                expires_at=None, policy=policy,
            )  # fmt: skip
            book.entries[-1]["balance_after"] = n + 1
        else:
            book.extend(clock.now(), request)
        account.seq = number_entries(book)
        entries.extend(book.entries)
        lots.extend(lot.to_document() for lot in book.lots.values())
    whole = Book(account, [LotState.from_document(lot) for lot in lots], clock.now())
    mongo = runtime.mongo
    await mongo["accounts"].insert_one(
        {"_id": member_id, **whole.account_document(), "seq": account.seq}
    )
    if lots:
        await mongo["lots"].insert_many(lots)
    if entries:
        await mongo["ledger"].insert_many(entries)
