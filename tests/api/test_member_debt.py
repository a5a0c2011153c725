"""A member sees what they owe after a refund, and can follow it in their own history.

A worked example: 200 points earned and spent, 100 more pending in a 7-day return window; the
first order is refunded (150 of its 200 points), and the member owes what they had spent of
them. The pending points pay most of it when they mature, the next earn the rest.
"""

from __future__ import annotations

from datetime import timedelta

from app.ledger import mature_due, reverse, spend
from tests.api.gql import ask, data, earn_points, make_member, make_program, member_token

STATE = """{ me { balance { available pending held debt }
  history(first: 20) { edges { node { kind points balanceAfter debtChange description } } } } }"""


async def _state(client, token) -> tuple[dict[str, int], list[dict[str, object]]]:
    me = data(await ask(client, STATE, token))["me"]
    return me["balance"], [edge["node"] for edge in me["history"]["edges"]]


def _followed(history: list[dict[str, object]]) -> int:
    """The debt as the history alone tells it: the sum of every entry's debt change."""
    return sum(int(str(entry["debtChange"])) for entry in history)


async def test_a_member_sees_their_debt_and_each_entry_that_made_or_paid_it(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    token = member_token(issuer, member)
    await earn_points(runtime, clock, member, 200, "order-1")
    await earn_points(
        runtime, clock, member, 100, "order-2", available_at=clock.now() + timedelta(days=7)
    )
    await spend(runtime.mongo, clock, member_id=member, points=200, idempotency_key="spend")
    earned = await runtime.mongo["ledger"].find_one({"idempotency_key": "order-1"})
    assert earned is not None
    await reverse(
        runtime.mongo, clock, entry_id=str(earned["_id"]), points=150, idempotency_key="refund"
    )

    balance, history = await _state(client, token)
    assert balance == {"available": 0, "pending": 100, "held": 0, "debt": 150}
    refund = history[0]
    assert (refund["kind"], refund["points"], refund["debtChange"]) == ("REVERSAL", -150, 150)
    assert "150 owed, paid from your next points" in str(refund["description"])
    assert _followed(history) == balance["debt"]

    clock.advance(timedelta(days=8))
    await mature_due(runtime.mongo, clock)
    token = member_token(issuer, member)  # the first one expired meanwhile
    balance, history = await _state(client, token)
    assert balance == {"available": 0, "pending": 0, "held": 0, "debt": 50}
    matured = history[0]
    assert (matured["kind"], matured["points"], matured["debtChange"]) == ("MATURE", 0, -100)
    assert "100 paid what you owed" in str(matured["description"])
    assert _followed(history) == 50

    await earn_points(runtime, clock, member, 80, "order-3", description="Order order-3")
    balance, history = await _state(client, token)
    assert balance == {"available": 30, "pending": 0, "held": 0, "debt": 0}
    paid = history[0]
    assert (paid["kind"], paid["points"], paid["balanceAfter"]) == ("EARN", 80, 30)
    assert paid["debtChange"] == -50
    assert paid["description"] == "Order order-3; 50 paid what you owed"
    assert _followed(history) == 0
    assert [entry["debtChange"] for entry in history if entry["kind"] == "REDEEM"] == [0]


async def test_an_operators_reason_on_a_refund_still_says_what_is_owed(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    await earn_points(runtime, clock, member, 60, "order-1")
    await spend(runtime.mongo, clock, member_id=member, points=60, idempotency_key="spend")
    earned = await runtime.mongo["ledger"].find_one({"idempotency_key": "order-1"})
    assert earned is not None
    await reverse(
        runtime.mongo,
        clock,
        entry_id=str(earned["_id"]),
        idempotency_key="refund",
        reason="Order order-1 returned",
    )
    balance, history = await _state(client, member_token(issuer, member))
    assert balance["debt"] == 60
    assert history[0]["description"] == (
        "Order order-1 returned; 60 owed, paid from your next points"
    )
