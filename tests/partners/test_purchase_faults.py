"""Purchases under faults injected with configureFailPoint, over the API: a till that retries until
it gets an answer finds every order recorded once, with its entry, its points and its qualifying
points counted once (they move in the account's own command: app.ledger.tally), and an upgrade
recorded once."""

from __future__ import annotations

import random
from typing import Any

import pytest

from app.ledger import get_balance
from app.members import get_member, get_tier_progress
from tests.api.gql import ask, data, make_member
from tests.faults import fail_point
from tests.ledger.conftest import assert_invariants
from tests.partners.api import PROGRAM, PURCHASE, make_program, partner_token, purchase_input

FAULTS: list[dict[str, Any]] = [
    {"errorCode": 112, "errorLabels": ["TransientTransactionError"]},
    {"closeConnection": True},
    {"errorCode": 96},  # refused: the purchase did not happen, the till's retry makes it
    # The commit is applied but the client is told it failed: only the retry can tell.
    {"writeConcernError": {"code": 100, "errmsg": "unsatisfiable"}},
]
# What a purchase sends: the member with the partner, the account with the qualifying points,
# the lot, the entry and the order, the commit.
COMMANDS = ["aggregate", "findAndModify", "insert", "commitTransaction"]


@pytest.mark.parametrize("seed", [1, 2])
async def test_a_purchase_retried_through_faults_is_recorded_and_counted_once(
    client, runtime, clock, issuer, seed: int
) -> None:
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    rng = random.Random(seed)
    totals = []
    for n in range(8):
        variables = {"input": purchase_input(member, f"o-{n}", amounts=("1500",))}
        fault = rng.choice(FAULTS)
        command = "commitTransaction" if "writeConcernError" in fault else rng.choice(COMMANDS)
        body = {"query": PURCHASE, "variables": variables}
        headers = {"authorization": f"Bearer {token}"}
        async with fail_point(
            runtime.mongo, {"times": rng.randint(1, 3)}, {"failCommands": [command], **fault}
        ):
            first = await client.post("/graphql", json=body, headers=headers)
        answer = data(await ask(client, PURCHASE, token, variables))["recordPurchase"]
        assert answer["userErrors"] == [], (fault, command)
        if first.status_code == 200 and not first.json().get("errors"):
            assert first.json()["data"]["recordPurchase"] == answer, (fault, command)
        assert data(await ask(client, PURCHASE, token, variables))["recordPurchase"] == answer
        totals.append(answer["purchase"]["total"])
    mongo = runtime.mongo
    assert await mongo["orders"].count_documents({"member_id": member}) == 8
    assert await mongo["ledger"].count_documents({"member_id": member}) == 8
    balance = await get_balance(mongo, member, clock.now())
    assert balance.available + balance.pending == sum(totals)
    progress = await get_tier_progress(
        mongo, PROGRAM, member_id=member, tier="gold", now=clock.now()
    )
    assert progress.qualifying_points == sum(totals)
    assert (await get_member(mongo, member)).tier == "gold"
    assert await mongo["tier_changes"].count_documents({"member_id": member}) == 1
    await assert_invariants(mongo)
