"""Challenges over HTTP: purchases advance them, the completing purchase carries the reward in its
own entry, a badge is kept once, progress is shown to the member, each window counts on its own,
replays and concurrent purchases never reward twice, and a bad challenge is refused by path."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from app.ledger import get_balance, verify_balances
from app.program import Challenge, Program, ProgramInvalid, parse_program
from tests.api.gql import ask, data, make_member, member_token
from tests.partners.api import PROGRAM, make_program, partner_token, post_purchase, purchase_input
from tests.program.configs import demo_config

ME = """{ me {
  challenges { id metric goal progress window endsAt completedAt rewardPoints badge }
  badges { code name }
} }"""

CHALLENGES = (
    {
        "id": "march-three",
        "name": "Three in March",
        "metric": "purchases",
        "goal": 3,
        "starts_at": "2026-02-28T16:00:00Z",  # 1 March 00:00 in Shanghai
        "ends_at": "2026-03-31T16:00:00Z",
        "reward": {"points": 300, "badge": "march-regular", "badge_name": "March regular"},
    },
    {
        "id": "big-quarter",
        "name": "1,000 in a quarter",
        "metric": "spend",
        "goal": "1000",
        "period": "quarter",
        "when": {"fact": "channel", "eq": "app"},
        "reward": {"points": 500},
    },
    {
        "id": "explorer",
        "name": "Three categories a month",
        "metric": "categories",
        "goal": 3,
        "period": "month",
        "reward": {"badge": "explorer", "badge_name": "Explorer"},
    },
)


def with_challenges() -> Program:
    return PROGRAM.model_copy(
        update={"challenges": tuple(Challenge.model_validate(c) for c in CHALLENGES)}
    )


def order(
    member: str,
    key: str,
    at: str,
    categories: tuple[str, ...] = ("food",),
    amount: str = "100",
    **extra: Any,
) -> dict[str, Any]:
    payload = purchase_input(member, key, at=at, amounts=(amount,) * len(categories), **extra)
    for line, category in zip(payload["lines"], categories, strict=True):
        line["category"] = category
    return payload


def challenge_rows(result: dict[str, Any]) -> dict[str, int]:
    return {
        row["rule"]: row["points"]
        for row in result["purchase"]["breakdown"]
        if row["rule"].startswith("challenge:")
    }


async def test_three_purchases_in_march_complete_it_once_with_points_and_a_badge(
    client, runtime, clock, issuer
):
    clock.set(datetime(2026, 4, 1, 2, tzinfo=UTC))
    await make_program(runtime, clock, with_challenges())
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    days = [
        "2026-03-02T02:00:00Z",
        "2026-03-09T02:00:00Z",
        "2026-03-20T02:00:00Z",
        "2026-03-21T02:00:00Z",
    ]
    results = []
    for n, at in enumerate(days):
        results.append(await post_purchase(client, token, order(member, f"o{n}", at)))
        if n == 0:  # a till's retry counts nothing
            assert await post_purchase(client, token, order(member, "o0", at)) == results[0]
    assert [challenge_rows(r) for r in results] == [{}, {}, {"challenge:march-three": 300}, {}]
    assert results[2]["purchase"]["total"] == 100 + 300
    assert (await get_balance(runtime.mongo, member, clock.now())).available == 400 + 300
    assert await verify_balances(runtime.mongo) == []
    clock.set(datetime(2026, 3, 25, tzinfo=UTC))
    me = data(await ask(client, ME, member_token(issuer, member)))["me"]
    march = next(c for c in me["challenges"] if c["id"] == "march-three")
    # Completed when the third purchase was posted (the clock then), counting stopped at it.
    assert (march["progress"], march["goal"], march["completedAt"]) == (
        "3",
        "3",
        "2026-04-01T02:00:00.000+00:00",
    )
    assert me["badges"] == [{"code": "march-regular", "name": "March regular"}]


async def test_concurrent_purchases_complete_a_challenge_exactly_once(
    client, runtime, clock, issuer
):
    clock.set(datetime(2026, 3, 25, tzinfo=UTC))
    await make_program(runtime, clock, with_challenges())
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    results = await asyncio.gather(
        *(
            post_purchase(client, token, order(member, f"c{n}", "2026-03-24T02:00:00Z"))
            for n in range(7)
        )
    )
    rewarded = [challenge_rows(r) for r in results if challenge_rows(r)]
    assert rewarded == [{"challenge:march-three": 300}]
    progress = await runtime.mongo["challenge_progress"].find_one({"challenge": "march-three"})
    assert progress is not None and progress["purchases"] == 3  # counting stops once completed
    assert await runtime.mongo["member_badges"].count_documents({"member_id": member}) == 1


async def test_each_window_counts_on_its_own_and_conditions_choose_the_purchases(
    client, runtime, clock, issuer
):
    clock.set(datetime(2026, 4, 25, tzinfo=UTC))
    await make_program(runtime, clock, with_challenges())
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    march = await post_purchase(
        client, token, order(member, "m1", "2026-03-30T02:00:00Z", ("tea", "food"))
    )
    april = await post_purchase(
        client, token, order(member, "a1", "2026-04-02T02:00:00Z", ("toys",))
    )
    assert challenge_rows(march) == {} and challenge_rows(april) == {}  # 2 + 1: two windows
    april_more = await post_purchase(
        client, token, order(member, "a2", "2026-04-03T02:00:00Z", ("tea", "food"))
    )
    assert challenge_rows(april_more) == {}  # a badge only: no points row
    badges = await runtime.mongo["member_badges"].find({"member_id": member}).to_list()
    assert [(b["badge"], b["window"]) for b in badges] == [("explorer", "2026-04")]
    # Spend in the app only: 900 by till (not counted), then 1,000 in the app over two orders.
    by_till = await post_purchase(
        client, token, order(member, "t1", "2026-04-05T02:00:00Z", amount="900")
    )
    first = await post_purchase(
        client, token, order(member, "p1", "2026-04-06T02:00:00Z", amount="600", channel="app")
    )
    second = await post_purchase(
        client, token, order(member, "p2", "2026-04-07T02:00:00Z", amount="400", channel="app")
    )
    assert [challenge_rows(r) for r in (by_till, first, second)] == [
        {},
        {},
        {"challenge:big-quarter": 500},
    ]
    me = data(await ask(client, ME, member_token(issuer, member)))["me"]
    quarter = next(c for c in me["challenges"] if c["id"] == "big-quarter")
    assert (quarter["window"], quarter["progress"], quarter["goal"]) == ("2026-Q2", "1000", "1000")
    assert quarter["endsAt"] == "2026-06-30T16:00:00.000+00:00"  # 1 July 00:00 in Shanghai


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"period": "month"}, "a challenge runs each `period`, or once until `ends_at`"),
        ({"goal": "2.5"}, "a purchases goal is a whole number"),
        (
            {"when": {"fact": "sku", "eq": "x"}},
            "a challenge's condition reads the order and the member",
        ),
        ({"reward": {"points": 0}}, "a challenge's reward gives points, a badge, or both"),
    ],
)
def test_a_bad_challenge_is_refused_by_path(change: dict[str, Any], message: str) -> None:
    config = demo_config()
    config["challenges"] = [{**CHALLENGES[0], **change}]
    with pytest.raises(ProgramInvalid) as refused:
        parse_program(config)
    [error] = refused.value.errors
    assert error.path.startswith("challenges[0]") and message in error.message, str(error)
