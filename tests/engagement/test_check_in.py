"""Daily check-in (签到) over HTTP: points by streak in the program's local days, once a day
whatever the client does (double taps, retries after midnight), and the refusals."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from app.ledger import verify_balances
from app.program import CheckIn
from tests.api.gql import ask, codes, data, make_member, member_token
from tests.engagement.api import STATUS, check_in, error_codes, make_program, partner_token
from tests.tiers.programs import program

DAY = timedelta(days=1)


class Caller:
    """A member whose token is minted afresh at each use: the tests move the clock by days."""

    def __init__(self, issuer, member_id: str) -> None:
        self.issuer = issuer
        self.member_id = member_id

    def __str__(self) -> str:
        return member_token(self.issuer, self.member_id)


async def status(client, token) -> dict:
    return data(await ask(client, STATUS, str(token)))["me"]


async def test_points_follow_the_streak_and_a_missed_day_starts_it_over(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock)
    token = Caller(issuer, await make_member(runtime, clock))
    assert (await status(client, token))["checkIn"] == {
        "streak": 0,
        "todayDone": False,
        "nextPoints": 5,
    }
    got = []
    for _ in range(4):
        day = (await check_in(client, token))["checkIn"]
        got.append((day["streak"], day["points"], day["alreadyDone"]))
        clock.advance(DAY)
    assert got == [(1, 5, False), (2, 5, False), (3, 10, False), (4, 10, False)]
    assert (await status(client, token))["checkIn"] == {
        "streak": 4,
        "todayDone": False,
        "nextPoints": 20,
    }
    clock.advance(DAY)  # a day missed
    assert (await status(client, token))["checkIn"]["streak"] == 0
    day = (await check_in(client, token))["checkIn"]
    assert (day["streak"], day["points"]) == (1, 5)
    me = await status(client, token)
    assert me["checkIn"] == {"streak": 1, "todayDone": True, "nextPoints": 5}
    assert me["balance"]["available"] == 5 + 5 + 10 + 10 + 5


async def test_the_local_day_is_the_programs(client, runtime, clock, issuer) -> None:
    await make_program(runtime, clock)  # Asia/Shanghai; the clock says 17:00 there
    token = Caller(issuer, await make_member(runtime, clock))
    first = (await check_in(client, token))["checkIn"]
    clock.advance(timedelta(hours=6, minutes=59))  # 23:59 local
    assert (await check_in(client, token))["checkIn"]["alreadyDone"] is True
    clock.advance(timedelta(minutes=2))  # 00:01 the next local day (still 15 January in UTC)
    second = (await check_in(client, token))["checkIn"]
    assert (first["day"], second["day"]) == ("2026-01-15", "2026-01-16")
    assert (second["streak"], second["alreadyDone"]) == (2, False)


async def test_the_last_value_repeats_or_the_streak_restarts(
    client, runtime, clock, issuer
) -> None:
    for restart, expected in ((False, [5, 10, 10, 10]), (True, [5, 10, 5, 10])):
        rules = CheckIn(points_by_streak=(5, 10), restart_after_last=restart)
        await make_program(runtime, clock, program(check_in=rules))
        token = Caller(issuer, await make_member(runtime, clock))
        got = []
        for _ in range(4):
            got.append((await check_in(client, token))["checkIn"]["points"])
            clock.advance(DAY)
        assert got == expected


async def test_double_taps_and_retries_earn_once_and_answer_the_first_result(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock)
    member_id = await make_member(runtime, clock)
    token = member_token(issuer, member_id)
    taps = await asyncio.gather(*(check_in(client, token) for _ in range(6)))
    days = [tap["checkIn"] for tap in taps]
    assert Counter(day["alreadyDone"] for day in days) == {False: 1, True: 5}
    assert {(d["streak"], d["points"], d["entry"]["id"]) for d in days} == {
        (1, 5, days[0]["entry"]["id"])
    }
    earns = await runtime.mongo["ledger"].count_documents({"member_id": member_id})
    assert earns == 1
    assert await verify_balances(runtime.mongo) == []


async def test_a_retry_after_midnight_with_the_same_key_is_the_first_check_in(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock)
    token = Caller(issuer, await make_member(runtime, clock))
    first = (await check_in(client, token, key="tap-1"))["checkIn"]
    clock.advance(DAY)
    retry = (await check_in(client, token, key="tap-1"))["checkIn"]
    assert retry == {**first, "alreadyDone": True}
    fresh = (await check_in(client, token, key="tap-2"))["checkIn"]
    assert (fresh["streak"], fresh["alreadyDone"]) == (2, False)


async def test_refusals(client, runtime, clock, issuer) -> None:
    await make_program(runtime, clock, program(check_in=None))
    member_id = await make_member(runtime, clock)
    token = member_token(issuer, member_id)
    assert error_codes(await check_in(client, token)) == ["NOT_CONFIGURED"]
    assert (await status(client, token))["checkIn"] is None
    await make_program(runtime, clock)
    await runtime.mongo["members"].update_one({"_id": member_id}, {"$set": {"status": "suspended"}})
    assert error_codes(await check_in(client, token)) == ["MEMBER_SUSPENDED"]
    assert await runtime.mongo["ledger"].count_documents({}) == 0
    body = await ask(client, "mutation { checkIn { userErrors { code } } }", partner_token(issuer))
    assert codes(body) == ["FORBIDDEN"]
    long_key = await check_in(client, token, key="k" * 129)
    assert error_codes(long_key) == ["INVALID_INPUT"]


async def test_a_day_worth_no_points_keeps_the_streak_without_an_entry(
    client, runtime, clock, issuer
) -> None:
    await make_program(runtime, clock, program(check_in=CheckIn(points_by_streak=(0, 5))))
    member_id = await make_member(runtime, clock)
    token = Caller(issuer, member_id)
    first = (await check_in(client, token))["checkIn"]
    assert first == {
        "day": "2026-01-15",
        "streak": 1,
        "points": 0,
        "alreadyDone": False,
        "entry": None,
    }
    assert (await check_in(client, token))["checkIn"] == {**first, "alreadyDone": True}
    clock.advance(DAY)
    second = (await check_in(client, token))["checkIn"]
    assert (second["streak"], second["points"], second["entry"]["points"]) == (2, 5, 5)
    assert await runtime.mongo["ledger"].count_documents({"member_id": member_id}) == 1
