"""Member sign-in over HTTP: sign up, log in (throttled), refresh with rotation, log out."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.config import Environment, Settings
from app.console_links import ConsoleGrant, create_link
from app.db import INDEXES
from app.importer import UploadedFile, start_import
from app.main import create_app
from app.members import InvalidPhone, normalise_phone
from app.seed import DEMO_PASSWORD, DEMO_PHONE, seed_demo
from tests.api.gql import ask, codes, data, make_program

SIGN_UP = """
mutation($input: SignUpInput!) {
  signUp(input: $input) {
    session { accessToken accessTokenExpiresAt refreshToken refreshTokenExpiresAt }
    member { id memberNo name phone tier { code } }
    userErrors { code message field }
  }
}"""
LOG_IN = """
mutation($input: LogInInput!) {
  logIn(input: $input) {
    session { accessToken refreshToken }
    member { name }
    userErrors { code message field ... on RateLimitedError { retryAfterSeconds } }
  }
}"""
REFRESH = """
mutation($token: String!) {
  refreshSession(input: {refreshToken: $token}) {
    session { accessToken refreshToken }
    member { name }
    userErrors { code field }
  }
}"""
LOG_OUT = (
    "mutation($token: String!) { logOut(input: {refreshToken: $token}) { userErrors { code } } }"
)
ME = "{ me { name phone } }"


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("13800138000", "+8613800138000"),
        ("138 0013 8000", "+8613800138000"),
        ("+86 138-0013-8000", "+8613800138000"),
        ("008613800138000", "+8613800138000"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+1 (415) 555-0100", "+14155550100"),
    ],
)
def test_phone_numbers_are_normalised_to_e164(raw: str, e164: str) -> None:
    assert normalise_phone(raw) == e164


@pytest.mark.parametrize("raw", ["", "12345", "23800138000", "+86 1234", "+0123456789", "phone"])
def test_malformed_phone_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPhone):
        normalise_phone(raw)


async def sign_up(client, phone="138 0013 8001", password="correct horse", name="Han Meimei"):
    variables = {"input": {"phone": phone, "password": password, "name": name}}
    return (await ask(client, SIGN_UP, variables=variables))["data"]["signUp"]


async def log_in(client, phone="13800138001", password="correct horse"):
    variables = {"input": {"phone": phone, "password": password}}
    return data(await ask(client, LOG_IN, variables=variables))["logIn"]


async def test_sign_up_creates_the_member_in_the_entry_tier_and_signs_in(
    client, runtime, clock
) -> None:
    await make_program(runtime, clock)
    payload = await sign_up(client)
    assert payload["userErrors"] == []
    member = payload["member"]
    assert member["phone"] == "+8613800138001"
    assert member["tier"] == {"code": "member"}
    assert member["memberNo"].startswith("JF")
    session = payload["session"]
    assert session["accessTokenExpiresAt"] == (clock.now() + timedelta(minutes=15)).isoformat(
        timespec="milliseconds"
    )
    me = data(await ask(client, ME, session["accessToken"]))["me"]
    assert me == {"name": "Han Meimei", "phone": "+8613800138001"}
    stored = await runtime.mongo["members"].find_one({"phone": "+8613800138001"})
    assert stored["password_hash"].startswith("$argon2id$v=19$m=64,t=1,p=1$")  # JIFEN_ENV=test


@pytest.mark.parametrize("env", [Environment.DEV, Environment.PRODUCTION])
async def test_outside_tests_passwords_are_hashed_at_the_standard_cost(
    env: Environment, settings: Settings, clock
) -> None:
    settings.env = env
    application = create_app(settings, clock=clock)
    async with application.router.lifespan_context(application):
        runtime = application.state.runtime
        await make_program(runtime, clock)
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://jifen.test") as http:
            await sign_up(http)
        stored = await runtime.mongo["members"].find_one({})
    # argon2id at 64 MiB, three passes, one lane: what app/auth/passwords.py documents.
    assert stored["password_hash"].startswith("$argon2id$v=19$m=65536,t=3,p=1$")


async def test_a_taken_phone_is_a_user_error(client, runtime, clock) -> None:
    await make_program(runtime, clock)
    await sign_up(client, phone="13800138001")
    payload = await sign_up(client, phone="+86 138 0013 8001")
    assert payload["session"] is None
    assert payload["userErrors"] == [
        {
            "code": "PHONE_TAKEN",
            "message": "this phone number already has an account; log in instead",
            "field": ["input", "phone"],
        }
    ]


@pytest.mark.parametrize(
    ("phone", "password", "name", "field"),
    [
        ("12345", "correct horse", "Han", "phone"),
        ("13800138009", "short", "Han", "password"),
        ("13800138009", "correct horse", "   ", "name"),
    ],
)
async def test_sign_up_checks_its_input(client, runtime, clock, phone, password, name, field):
    await make_program(runtime, clock)
    payload = await sign_up(client, phone=phone, password=password, name=name)
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("INVALID_INPUT", ["input", field])
    ]
    assert await runtime.mongo["members"].count_documents({}) == 0


async def test_log_in_with_the_right_password_returns_a_working_session(
    client, runtime, clock
) -> None:
    await make_program(runtime, clock)
    await sign_up(client)
    payload = await log_in(client, phone="+8613800138001")
    assert payload["userErrors"] == [] and payload["member"] == {"name": "Han Meimei"}
    assert data(await ask(client, ME, payload["session"]["accessToken"]))["me"]["name"]


async def test_unknown_phone_and_wrong_password_answer_alike(
    client, runtime, clock, standard_hashes
) -> None:
    await make_program(runtime, clock)
    await sign_up(client)
    started = time.perf_counter()
    wrong_password = await log_in(client, password="not the password")
    wrong_password_took = time.perf_counter() - started
    started = time.perf_counter()
    unknown_phone = await log_in(client, phone="13900000000")
    unknown_phone_took = time.perf_counter() - started
    assert wrong_password == unknown_phone
    assert wrong_password["userErrors"] == [
        {"code": "INVALID_CREDENTIALS", "message": "wrong phone number or password", "field": None}
    ]
    # Both paths pay for one argon2 verification (tens of ms), so neither is much faster.
    assert unknown_phone_took > 0.3 * wrong_password_took


async def test_five_failures_lock_the_phone_for_fifteen_minutes(client, runtime, clock) -> None:
    await make_program(runtime, clock)
    await sign_up(client)
    for _ in range(5):
        failed = await log_in(client, password="guess")
        assert failed["userErrors"][0]["code"] == "INVALID_CREDENTIALS"
    locked = await log_in(client)  # even the right password
    assert locked["session"] is None
    assert locked["userErrors"][0]["code"] == "RATE_LIMITED"
    assert locked["userErrors"][0]["retryAfterSeconds"] == 15 * 60
    clock.advance(timedelta(minutes=14))
    assert (await log_in(client))["userErrors"][0]["code"] == "RATE_LIMITED"
    clock.advance(timedelta(minutes=1, seconds=1))
    assert (await log_in(client))["userErrors"] == []


async def test_failures_spread_over_more_than_fifteen_minutes_do_not_lock(
    client, runtime, clock
) -> None:
    await make_program(runtime, clock)
    await sign_up(client)
    for _ in range(4):
        await log_in(client, password="guess")
    clock.advance(timedelta(minutes=16))
    for _ in range(4):
        await log_in(client, password="guess")
    assert (await log_in(client))["userErrors"] == []


async def test_a_success_does_not_count_as_a_failure(client, runtime, clock) -> None:
    await make_program(runtime, clock)
    await sign_up(client)
    for _ in range(6):
        assert (await log_in(client))["userErrors"] == []


async def test_one_address_guessing_many_phones_is_locked(client, runtime, clock) -> None:
    await make_program(runtime, clock)
    await sign_up(client)
    for n in range(20):
        await log_in(client, phone=f"139{n:08d}", password="guess")
    locked = await log_in(client)
    assert locked["userErrors"][0]["code"] == "RATE_LIMITED"


async def test_refresh_rotates_the_refresh_token(client, runtime, clock) -> None:
    await make_program(runtime, clock)
    first = (await sign_up(client))["session"]
    refreshed = data(await ask(client, REFRESH, variables={"token": first["refreshToken"]}))
    second = refreshed["refreshSession"]["session"]
    assert refreshed["refreshSession"]["member"] == {"name": "Han Meimei"}
    assert second["refreshToken"] != first["refreshToken"]
    assert data(await ask(client, ME, second["accessToken"]))["me"]["name"] == "Han Meimei"
    stored = await runtime.mongo["refresh_tokens"].find({}, {"_id": 0, "token_hash": 1}).to_list()
    assert all(first["refreshToken"] not in str(doc) for doc in stored)  # stored hashed only
    third = data(await ask(client, REFRESH, variables={"token": second["refreshToken"]}))
    assert third["refreshSession"]["userErrors"] == []


async def test_a_reused_refresh_token_revokes_its_whole_family(client, runtime, clock) -> None:
    await make_program(runtime, clock)
    first = (await sign_up(client))["session"]
    second = data(await ask(client, REFRESH, variables={"token": first["refreshToken"]}))
    second_token = second["refreshSession"]["session"]["refreshToken"]
    reuse = data(await ask(client, REFRESH, variables={"token": first["refreshToken"]}))
    assert reuse["refreshSession"]["userErrors"] == [
        {"code": "INVALID_REFRESH_TOKEN", "field": ["input", "refreshToken"]}
    ]
    # The legitimate holder of the newer token is signed out too: the family is burnt.
    after = data(await ask(client, REFRESH, variables={"token": second_token}))
    assert after["refreshSession"]["userErrors"][0]["code"] == "INVALID_REFRESH_TOKEN"


async def test_another_log_in_keeps_its_own_family(client, runtime, clock) -> None:
    await make_program(runtime, clock)
    phone_session = (await sign_up(client))["session"]
    laptop_session = (await log_in(client))["session"]
    await ask(client, REFRESH, variables={"token": phone_session["refreshToken"]})
    await ask(client, REFRESH, variables={"token": phone_session["refreshToken"]})  # reuse
    laptop = data(await ask(client, REFRESH, variables={"token": laptop_session["refreshToken"]}))
    assert laptop["refreshSession"]["userErrors"] == []


async def test_refresh_tokens_expire_after_thirty_days(client, runtime, clock) -> None:
    await make_program(runtime, clock)
    session = (await sign_up(client))["session"]
    clock.advance(timedelta(days=30, seconds=1))
    late = data(await ask(client, REFRESH, variables={"token": session["refreshToken"]}))
    assert late["refreshSession"]["userErrors"][0]["code"] == "INVALID_REFRESH_TOKEN"


async def test_log_out_ends_the_session_family(client, runtime, clock) -> None:
    await make_program(runtime, clock)
    session = (await sign_up(client))["session"]
    out = data(await ask(client, LOG_OUT, variables={"token": session["refreshToken"]}))
    assert out == {"logOut": {"userErrors": []}}
    after = data(await ask(client, REFRESH, variables={"token": session["refreshToken"]}))
    assert after["refreshSession"]["userErrors"][0]["code"] == "INVALID_REFRESH_TOKEN"
    unknown = data(await ask(client, LOG_OUT, variables={"token": "made-up"}))
    assert unknown == {"logOut": {"userErrors": []}}


async def test_access_tokens_from_log_in_expire_after_fifteen_minutes(
    client, runtime, clock
) -> None:
    await make_program(runtime, clock)
    session = (await sign_up(client))["session"]
    clock.advance(timedelta(minutes=15, seconds=31))
    assert codes(await ask(client, ME, session["accessToken"])) == ["UNAUTHENTICATED"]


async def test_the_seeded_demo_member_can_log_in(client, runtime, clock) -> None:
    await seed_demo(runtime.mongo, clock)
    payload = await log_in(client, phone=DEMO_PHONE, password=DEMO_PASSWORD)
    assert payload["userErrors"] == []
    assert payload["member"]["name"] == "Demo Member 演示会员"


async def test_the_database_clock_never_purges_what_the_test_clock_still_counts(
    client, runtime, clock
) -> None:
    """TTL indexes expire by the database's wall clock; the logic runs on the injected one.

    Documents under a TTL index must therefore be kept until a wall-clock instant, never until
    an instant of the (possibly frozen, possibly long past) test clock, or the TTL monitor may
    delete log-in attempts, locks, counters or sessions while a test is still counting them.
    """
    await make_program(runtime, clock)
    session = (await sign_up(client))["session"]
    for _ in range(5):
        await log_in(client, password="guess")  # attempts, then a lock
    update = 'mutation { updateProfile(input: {name: "Li"}) { userErrors { code } } }'
    data(await ask(client, update, session["accessToken"]))  # a mutation counter
    await create_link(runtime.mongo, clock, ConsoleGrant("ops", (), 60), actor="cli:test")
    await start_import(
        runtime.mongo,
        clock,
        members=UploadedFile("m.csv", b"legacy_id\n"),
        balances=None,
        dry_run=True,
        actor="cli:test",
        idempotency_key="ttl",
    )
    ttl_fields = {
        name: index.document["key"]
        for name, indexes in INDEXES.items()
        for index in indexes
        if "expireAfterSeconds" in index.document
    }
    assert set(ttl_fields) >= {"login_attempts", "login_locks", "rate_limits", "refresh_tokens"}
    wall_now = datetime.now(UTC)
    for name, key in ttl_fields.items():
        (field,) = key  # one field per TTL index
        documents = await runtime.mongo[name].find().to_list()
        assert documents, f"nothing stored in {name}"
        purged_before = [d for d in documents if d[field] <= wall_now]
        assert purged_before == [], f"{name}.{field} is due before the wall clock's now"
