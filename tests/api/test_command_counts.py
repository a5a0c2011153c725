"""What each operation costs the database, counted on the wire: reads and writes stay O(1) commands."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import monitoring

from app.rewards import Reward, RewardKind
from graphql_schema.ids import to_global_id
from tests.api.gql import (
    ask,
    data,
    earn_points,
    make_member,
    make_program,
    make_reward,
    member_token,
    seed_history,
)

ENDING = ("commitTransaction", "abortTransaction")  # sent to `admin`, but part of the operation


class Recorder(monitoring.CommandListener):
    """Counts the commands sent to one database while switched on."""

    def __init__(self) -> None:
        self.database: str | None = None
        self.names: list[str] = []
        self.sent: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.database is None:
            return
        if event.database_name != self.database and event.command_name not in ENDING:
            return
        # The process's one change stream on `notifications` (the real-time hub) polls on its own.
        if event.command.get("collection") == "notifications" or "$changeStream" in str(
            event.command.get("pipeline", "")
        ):
            return
        self.names.append(event.command_name)
        self.sent.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


# Registered at import, before the app's client exists: pymongo hands global listeners only to
# clients created afterwards. Off (database None) except inside `commands` below.
RECORDER = Recorder()
monitoring.register(RECORDER)


async def commands(settings, run) -> tuple[list[str], Any]:
    """The commands the app sent to the test's database while `run` ran."""
    RECORDER.names, RECORDER.sent = [], []
    RECORDER.database = settings.db_name
    try:
        result = await run()
    finally:
        RECORDER.database = None
    return RECORDER.names, result


@pytest.fixture
async def member(runtime, clock) -> str:
    await make_program(runtime, clock)
    member_id = await make_member(runtime, clock)
    for n in range(30):
        await earn_points(runtime, clock, member_id, 100, f"e{n}")
    return member_id


async def test_the_balance_is_one_read(client, runtime, settings, issuer, member) -> None:
    token = member_token(issuer, member)
    query = "{ me { balance { available pending held nextExpiry { points expiresAt } } } }"
    sent, body = await commands(settings, lambda: ask(client, query, token))
    assert data(body)["me"]["balance"]["available"] == 3000
    assert sent == ["find"], sent


HISTORY = """query($after: String) { me { history(first: 20, after: $after) {
  edges { cursor node { id points } } pageInfo { hasNextPage endCursor } } } }"""


async def test_a_first_history_page_is_two_reads_and_the_next_one_read(
    client, runtime, settings, issuer, member
) -> None:
    token = member_token(issuer, member)
    sent, body = await commands(settings, lambda: ask(client, HISTORY, token))
    page = data(body)["me"]["history"]
    assert len(page["edges"]) == 20 and page["pageInfo"]["hasNextPage"]
    assert sent == ["find", "find"], sent  # the account's last sequence number, then the range
    after = {"after": page["pageInfo"]["endCursor"]}
    sent, body = await commands(settings, lambda: ask(client, HISTORY, token, after))
    assert len(data(body)["me"]["history"]["edges"]) == 10
    assert sent == ["find"], sent


async def first_history_page(client, runtime, settings, token) -> tuple[list[str], int, int]:
    """The commands of a first history page, its entries, and how many its ledger read examined."""
    sent, body = await commands(settings, lambda: ask(client, HISTORY, token))
    edges = data(body)["me"]["history"]["edges"]
    [read] = [command for command in RECORDER.sent if command.get("find") == "ledger"]
    fields = ("find", "filter", "sort", "limit", "hint")
    plan = await runtime.mongo.db.command(
        "explain", {name: read[name] for name in fields if name in read}, verbosity="executionStats"
    )
    return sent, len(edges), plan["executionStats"]["totalDocsExamined"]


async def test_a_history_page_costs_the_same_for_ten_or_two_thousand_entries(
    client, runtime, clock, settings, issuer
) -> None:
    await make_program(runtime, clock)
    small, large = await make_member(runtime, clock), await make_member(runtime, clock)
    await seed_history(runtime, clock, small, 10, earning=False)
    await seed_history(runtime, clock, large, 2_000, earning=False)  # bench/api.py: 10,000
    assert await first_history_page(client, runtime, settings, member_token(issuer, small)) == (
        ["find", "find"],
        10,
        10,
    )
    # SecantusDB examines every match of a sort+limit: a page must be a range of 20, not 2,000.
    assert await first_history_page(client, runtime, settings, member_token(issuer, large)) == (
        ["find", "find"],
        20,
        20,
    )


async def test_redemption_rewards_are_loaded_in_one_batch(
    client, runtime, settings, issuer, member
) -> None:
    token = member_token(issuer, member)
    redeem = """mutation($input: RedeemRewardInput!) { redeemReward(input: $input) { userErrors { code } } }"""
    for n in range(5):
        await make_reward(runtime, Reward(id=f"r{n}", name=f"Reward {n}", points_price=10))
        variables = {
            "input": {"rewardId": to_global_id("Reward", f"r{n}"), "idempotencyKey": str(n)}
        }
        assert data(await ask(client, redeem, token, variables))["redeemReward"]["userErrors"] == []
    query = "{ me { redemptions(first: 10) { edges { node { reward { name } } } } } }"
    sent, body = await commands(settings, lambda: ask(client, query, token))
    edges = data(body)["me"]["redemptions"]["edges"]
    assert {edge["node"]["reward"]["name"] for edge in edges} == {f"Reward {n}" for n in range(5)}
    assert sent == ["find", "find"], sent  # the redemptions, then all five rewards at once


REDEEM = """mutation($input: RedeemRewardInput!) {
  redeemReward(input: $input) { redemption { id points couponCode } userErrors { code } } }"""


async def test_redeeming_a_limited_coupon_is_ten_commands_with_the_commit(
    client, runtime, settings, issuer, member
) -> None:
    coupon = Reward(
        id="r_coffee",
        name="Coffee",
        kind=RewardKind.COUPON,
        points_price=100,
        stock=5,
        per_member_limit=2,
    )
    await make_reward(runtime, coupon)
    token = member_token(issuer, member)
    variables = {"input": {"rewardId": to_global_id("Reward", coupon.id), "idempotencyKey": "k"}}
    sent, body = await commands(settings, lambda: ask(client, REDEEM, token, variables))
    assert data(body)["redeemReward"]["userErrors"] == []
    assert sent == [
        "findAndModify",  # the member's mutation rate limit
        "findAndModify",  # the reward, with a unit of its stock taken
        "findAndModify",  # the member's claim against the per-member limit
        "find",  # the account
        "find",  # the live lots
        "insert",  # the redemption, with its coupon
        "update",  # the account
        "update",  # the lots
        "insert",  # the REDEEM entry, carrying the idempotency key
        "insert",  # the events: points.spent and redemption.created (app/event_log.py)
        "commitTransaction",
    ], sent
