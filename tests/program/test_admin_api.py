"""Operators configure the program over GraphQL: admin tokens with program scopes, nobody else."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.auth import PrincipalKind
from app.bounds import MAX_KEY_LENGTH
from app.program.validation import MAX_DEPTH
from app.seed import DEMO_PROGRAM
from tests.api.gql import ask, codes, data, make_member, member_token
from tests.program.configs import demo_config

UPDATE = """mutation($input: UpdateProgramInput!) { updateProgram(input: $input) {
  changed version { version updatedBy note config }
  changes { path before after } userErrors { code field message } } }"""
VERSION = """query($v: Int) { programVersion(version: $v) {
  version updatedAt updatedBy note config } }"""
VERSIONS = """query($after: String) { programVersions(first: 2, after: $after) {
  edges { cursor node { version updatedBy note } } pageInfo { hasNextPage endCursor } } }"""


def _nested(depth: int) -> object:
    """A mapping `depth` levels deep."""
    value: object = 1
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.fixture
def admin(issuer) -> str:
    return issuer.mint(PrincipalKind.ADMIN, "li", scopes=["program:read", "program:write"])


async def update(client, token: str, config: Any, key: str, **extra: Any) -> dict[str, Any]:
    variables = {"input": {"config": config, "idempotencyKey": key, **extra}}
    return await ask(client, UPDATE, token, variables)


async def test_an_admin_applies_versions_and_reads_them_back(client, admin) -> None:
    first = data(await update(client, admin, demo_config(), "k1", note="launch"))["updateProgram"]
    assert first["userErrors"] == [] and first["changed"]
    assert first["version"]["version"] == 1 and first["version"]["updatedBy"] == "admin:li"
    renamed = demo_config(name="Jifen Mall")
    second = data(await update(client, admin, renamed, "k2"))["updateProgram"]
    assert second["version"]["version"] == 2
    assert second["changes"] == [
        {"path": "name", "before": '"Jifen Demo Mall"', "after": '"Jifen Mall"'}
    ]
    old = data(await ask(client, VERSION, admin, {"v": 1}))["programVersion"]
    assert (old["version"], old["note"], old["config"]["name"]) == (1, "launch", "Jifen Demo Mall")
    current = data(await ask(client, VERSION, admin))["programVersion"]
    assert current["version"] == 2 and current["config"]["name"] == "Jifen Mall"
    assert data(await ask(client, VERSION, admin, {"v": 9}))["programVersion"] is None
    public = data(await ask(client, "{ program { name } }"))["program"]
    assert public == {"name": "Jifen Mall"}


async def test_versions_page_newest_first(client, admin) -> None:
    for n in range(3):
        await update(client, admin, demo_config(name=f"Mall {n}"), f"k{n}", note=f"n{n}")
    page = data(await ask(client, VERSIONS, admin))["programVersions"]
    assert [edge["node"]["version"] for edge in page["edges"]] == [3, 2]
    assert page["pageInfo"]["hasNextPage"]
    after = page["pageInfo"]["endCursor"]
    rest = data(await ask(client, VERSIONS, admin, {"after": after}))["programVersions"]
    assert [edge["node"] for edge in rest["edges"]] == [
        {"version": 1, "updatedBy": "admin:li", "note": "n0"}
    ]
    assert not rest["pageInfo"]["hasNextPage"]


async def test_every_validation_error_names_its_path_and_nothing_is_applied(client, admin) -> None:
    await update(client, admin, demo_config(), "k1")
    config = demo_config()
    config["timezone"] = "Mars/Olympus"
    config["earn"]["rules"] = [
        {"id": "dining", "categories": ["dining"], "multiplier": "5"},
        {"id": "gift", "categories": ["gift"], "multiplier": "101"},
    ]
    payload = data(await update(client, admin, config, "k2"))["updateProgram"]
    errors = {tuple(error["field"]): error for error in payload["userErrors"]}
    assert {error["code"] for error in errors.values()} == {"VALIDATION"}
    assert errors.keys() == {
        ("input", "config", "timezone"),
        ("input", "config", "earn", "rules", "1", "multiplier"),
    }
    rule = errors[("input", "config", "earn", "rules", "1", "multiplier")]
    assert rule["message"] == "Input should be less than or equal to 100"
    assert payload["version"] is None
    current = data(await ask(client, VERSION, admin))["programVersion"]
    assert current["version"] == 1 and current["config"]["timezone"] == "Asia/Shanghai"


async def test_a_dry_run_shows_the_changes_and_applies_nothing(client, admin) -> None:
    await update(client, admin, demo_config(), "k1")
    config = demo_config()
    config["return_window_days"] = 14
    preview = data(await update(client, admin, config, "k2", dryRun=True))["updateProgram"]
    assert preview["changed"] and preview["version"]["version"] == 2
    assert preview["changes"] == [{"path": "return_window_days", "before": "7", "after": "14"}]
    assert preview["version"]["config"]["return_window_days"] == 14
    current = data(await ask(client, VERSION, admin))["programVersion"]
    assert current["version"] == 1


async def test_an_identical_config_is_no_change(client, admin) -> None:
    await update(client, admin, demo_config(), "k1")
    again = data(await update(client, admin, demo_config(), "k2"))["updateProgram"]
    assert not again["changed"] and again["changes"] == [] and again["version"]["version"] == 1


async def test_a_replayed_key_returns_the_first_result(client, admin) -> None:
    await update(client, admin, demo_config(), "k1")
    renamed = demo_config(name="Once")
    replies = await asyncio.gather(*(update(client, admin, renamed, "same") for _ in range(3)))
    payloads = [data(reply)["updateProgram"] for reply in replies]
    assert all(payload == payloads[0] for payload in payloads)
    assert payloads[0]["version"]["version"] == 2
    versions = data(await ask(client, VERSIONS, admin))["programVersions"]["edges"]
    assert [edge["node"]["version"] for edge in versions] == [2, 1]
    other = data(await update(client, admin, demo_config(name="Twice"), "same"))["updateProgram"]
    assert [e["code"] for e in other["userErrors"]] == ["IDEMPOTENCY_CONFLICT"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("not a table", "must be a table"),
        (
            {"name": _nested(MAX_DEPTH + 1)},
            "nested",
        ),
    ],
)
async def test_the_configs_shape_is_bounded(client, admin, config, message) -> None:
    payload = data(await update(client, admin, config, "k"))["updateProgram"]
    [error] = payload["userErrors"]
    assert error["code"] == "VALIDATION" and message in error["message"]
    assert error["field"] == ["input", "config"]


async def test_the_key_and_note_are_bounded(client, admin) -> None:
    long_key = data(await update(client, admin, demo_config(), "k" * (MAX_KEY_LENGTH + 1)))
    assert long_key["updateProgram"]["userErrors"][0]["field"] == ["input", "idempotencyKey"]
    long_note = data(await update(client, admin, demo_config(), "k", note="n" * 501))
    assert long_note["updateProgram"]["userErrors"][0]["field"] == ["input", "note"]


@pytest.mark.parametrize(
    ("kind", "scopes"),
    [
        (PrincipalKind.PARTNER, ["program:read", "program:write"]),
        (PrincipalKind.ADMIN, ["program:read"]),  # reading is not writing
        (PrincipalKind.ADMIN, ["members:read"]),
    ],
)
async def test_others_are_forbidden_to_update(client, issuer, kind, scopes) -> None:
    token = issuer.mint(kind, "x", scopes=scopes)
    body = await update(client, token, demo_config(), "k")
    assert codes(body) == ["FORBIDDEN"] and body["data"] is None


async def test_members_are_forbidden_and_anonymous_callers_unauthenticated(
    client, runtime, clock, issuer
) -> None:
    member = member_token(issuer, await make_member(runtime, clock))
    for token, code in ((member, "FORBIDDEN"), (None, "UNAUTHENTICATED")):
        assert codes(await update(client, token, demo_config(), "k")) == [code]
        assert codes(await ask(client, VERSION, token)) == [code]
        assert codes(await ask(client, VERSIONS, token)) == [code]
    partner = issuer.mint(PrincipalKind.PARTNER, "shop", scopes=["program:read"])
    assert codes(await ask(client, VERSION, partner)) == ["FORBIDDEN"]
    writer_only = issuer.mint(PrincipalKind.ADMIN, "w", scopes=["program:write"])
    assert codes(await ask(client, VERSIONS, writer_only)) == ["FORBIDDEN"]


def test_the_demo_program_round_trips_through_its_json_config() -> None:
    from app.program import parse_program

    assert parse_program(demo_config()) == DEMO_PROGRAM


async def test_program_of_an_earlier_version_is_for_admins(
    client, runtime, clock, admin, issuer
) -> None:
    await update(client, admin, demo_config(), "k1")
    renamed = demo_config()
    renamed["name"] = "Renamed Mall"
    await update(client, admin, renamed, "k2")
    query = "query($v: Int) { program(version: $v) { name } }"
    assert data(await ask(client, query, admin, {"v": 1}))["program"]["name"] == DEMO_PROGRAM.name
    assert data(await ask(client, query, None, {}))["program"]["name"] == "Renamed Mall"
    member = member_token(issuer, await make_member(runtime, clock))
    assert codes(await ask(client, query, member, {"v": 1})) == ["FORBIDDEN"]
    assert codes(await ask(client, query, None, {"v": 1})) == ["UNAUTHENTICATED"]
    assert codes(await ask(client, query, admin, {"v": 99})) == ["BAD_USER_INPUT"]
