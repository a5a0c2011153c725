"""Helpers for the engagement tests over HTTP: the program, members, tokens and the documents."""

from __future__ import annotations

from typing import Any

import httpx

from app.auth import PrincipalKind, TokenIssuer
from app.clock import Clock
from app.db import Mongo
from app.program import Program, save_program
from app.runtime import Runtime
from tests.api.gql import ask, data
from tests.tiers.programs import PROGRAM

CHECK_IN = """mutation($key: String) {
  checkIn(idempotencyKey: $key) {
    checkIn { day streak points alreadyDone entry { id points } }
    userErrors { code field message }
  }
}"""

STATUS = "{ me { checkIn { streak todayDone nextPoints } balance { available } } }"

RECORD = """mutation($input: RecordActivityInput!) {
  recordActivity(input: $input) {
    earn { activity points replayed entry { id points } }
    userErrors { code field message }
  }
}"""


async def make_program(runtime: Runtime, clock: Clock, program: Program = PROGRAM) -> None:
    await save_program(runtime.mongo, clock, program)


TEST_PARTNERS = ("pt_5b0900000000000000a1", "pt_a9900000000000000000")


async def register_test_partners(mongo: Mongo, clock: Clock) -> None:
    """The partners whose tokens these tests mint, registered as `jifen partner add` would."""
    now = clock.now().replace(microsecond=0)
    await mongo["partners"].insert_many(
        [
            {
                "_id": partner,
                "name": partner,
                "scopes": ["points:earn", "points:read"],
                "status": "active",
                "created_at": now,
            }
            for partner in TEST_PARTNERS
        ]
    )


def partner_token(
    issuer: TokenIssuer, partner: str = "pt_5b0900000000000000a1", scopes=("points:earn",)
) -> str:
    return issuer.mint(PrincipalKind.PARTNER, partner, scopes=list(scopes))


async def check_in(client: httpx.AsyncClient, token: str, key: str | None = None) -> dict[str, Any]:
    body = await ask(client, CHECK_IN, str(token), {"key": key})
    payload: dict[str, Any] = data(body)["checkIn"]
    return payload


async def record(
    client: httpx.AsyncClient, token: str, member: dict[str, str], activity: str, reference: str
) -> dict[str, Any]:
    variables = {"input": {"member": member, "activity": activity, "reference": reference}}
    payload: dict[str, Any] = data(await ask(client, RECORD, token, variables))["recordActivity"]
    return payload


def error_codes(payload: dict[str, Any]) -> list[str]:
    return [error["code"] for error in payload["userErrors"]]
