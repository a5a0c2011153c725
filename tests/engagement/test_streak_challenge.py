"""A check-in streak challenge over HTTP: the check-in that reaches the streak carries the
challenge's points in its own entry (even on a day the streak itself is worth nothing), the badge
is kept once, and a later check-in in the same window gives nothing more."""

from __future__ import annotations

from datetime import timedelta

from app.ledger import get_balance, verify_balances
from app.program import Challenge, CheckIn
from tests.api.gql import ask, data, make_member, member_token
from tests.engagement.api import check_in, make_program
from tests.tiers.programs import program

ME = "{ me { badges { code } challenges { id progress completedAt } } }"
HISTORY = "{ me { history(first: 1) { edges { node { points breakdown { rule points } } } } } }"
STREAK = Challenge.model_validate(
    {
        "id": "streak-3",
        "name": "Three days in a row",
        "metric": "check_in_streak",
        "goal": 3,
        "period": "month",
        "reward": {"points": 50, "badge": "early-bird", "badge_name": "Early bird"},
    }
)


async def test_the_third_day_in_a_row_carries_the_reward_in_its_entry(
    client, runtime, clock, issuer
) -> None:
    await make_program(
        runtime, clock, program(check_in=CheckIn(points_by_streak=(5,)), challenges=(STREAK,))
    )
    member = await make_member(runtime, clock)
    points = []
    for _ in range(4):
        done = await check_in(client, member_token(issuer, member))
        assert done["userErrors"] == [], done
        points.append(done["checkIn"]["entry"]["points"])
        clock.advance(timedelta(days=1))
    assert points == [5, 5, 55, 5]
    clock.advance(timedelta(days=-1))
    me = data(await ask(client, ME, member_token(issuer, member)))["me"]
    assert me["badges"] == [{"code": "early-bird"}]
    assert [(c["id"], c["progress"]) for c in me["challenges"]] == [("streak-3", "3")]
    assert (await get_balance(runtime.mongo, member, clock.now())).available == 70
    assert await verify_balances(runtime.mongo) == []


async def test_a_streak_worth_nothing_a_day_still_pays_its_challenge(
    client, runtime, clock, issuer
) -> None:
    await make_program(
        runtime, clock, program(check_in=CheckIn(points_by_streak=(0,)), challenges=(STREAK,))
    )
    member = await make_member(runtime, clock)
    entries = []
    for _ in range(3):
        done = await check_in(client, member_token(issuer, member))
        assert done["userErrors"] == [], done
        entries.append(done["checkIn"]["entry"])
        clock.advance(timedelta(days=1))
    assert entries[:2] == [None, None] and entries[2]["points"] == 50
    history = data(await ask(client, HISTORY, member_token(issuer, member)))["me"]["history"]
    [edge] = history["edges"]
    assert edge["node"]["breakdown"] == [
        {"rule": "check-in", "points": 0},
        {"rule": "challenge:streak-3", "points": 50},
    ]
    assert await verify_balances(runtime.mongo) == []
