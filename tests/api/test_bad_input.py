"""Bad input is the client's mistake: HTTP 400 or BAD_USER_INPUT, never a 500 or a masked
internal error with a traceback in the log."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from app.auth import PrincipalKind
from tests.api.gql import ask, codes, make_member, make_program, member_token

NOT_AN_OBJECT = [b"null", b"42", b"[]", b'"x"', b"true", b"1.5"]


@pytest.fixture
async def token(runtime, clock, issuer) -> str:
    await make_program(runtime, clock)
    return member_token(issuer, await make_member(runtime, clock))


@pytest.fixture
def errors_logged(caplog):
    caplog.set_level(logging.ERROR)
    yield caplog
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


NOT_A_JSON_OBJECT = {
    **{f"JSON {body.decode()}": body for body in NOT_AN_OBJECT},
    "arrays nested 30,000 deep": b"[" * 30_000 + b"]" * 30_000,
    "variables nested 20,000 deep": b'{"query": "{ program { name } }", "variables": {"a": '
    + b"[" * 20_000
    + b"]" * 20_000
    + b"}}",
    "not UTF-8 inside": b'{"query": "{ program { name } }", "x": "\xff\xfe"}',
    "not UTF-8 at all": b"\xff\xfe\xfd",
}


@pytest.mark.parametrize("name", NOT_A_JSON_OBJECT)
async def test_a_body_that_is_not_a_utf8_json_object_is_a_400(client, name, errors_logged) -> None:
    response = await client.post(
        "/graphql", content=NOT_A_JSON_OBJECT[name], headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text


@pytest.mark.parametrize(
    "body",
    [
        {"query": 42},
        {"query": None},
        {"query": "{ program { name } }", "variables": [1]},
        {"query": "{ program { name } }", "variables": "x"},
        {"query": "{ program { name } }", "operationName": 7},
        {"query": "{ program { name } }", "extensions": "x"},
    ],
)
async def test_a_request_with_fields_of_the_wrong_type_is_a_400(
    client, body, errors_logged
) -> None:
    response = await client.post("/graphql", json=body)
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("operation_name", [None, "X"])
async def test_a_document_that_does_not_parse_is_its_syntax_error(
    client, operation_name, errors_logged
) -> None:
    """With an operation name or without, the answer is the syntax error (a stand-in document
    carries an unparsed request through strawberry's steps: it must not be looked up by name)."""
    body = {"query": "query X { program {", "operationName": operation_name}
    response = await client.post("/graphql", json=body)
    assert response.status_code == 200, response.text
    errors = response.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"]
    assert errors[0]["message"].startswith("Syntax Error: ")


async def test_a_variable_of_the_wrong_type_is_bad_user_input(client, token, errors_logged) -> None:
    query = "query($n: Int!) { rewards(first: $n) { edges { cursor } } }"
    for value in (1.5, "ten", 2**40, None, [1], {"a": 1}):
        body = await ask(client, query, token, {"n": value})
        assert body["data"] is None and codes(body) == ["BAD_USER_INPUT"], (value, body)


@pytest.mark.parametrize(
    "literal", ["1" * 5000, "-" + "9" * 5000, "1" * 30, "1e400", "1." + "5" * 5000]
)
async def test_a_huge_number_literal_is_bad_user_input(
    client, token, literal, errors_logged
) -> None:
    body = await ask(client, f"{{ rewards(first: {literal}) {{ edges {{ cursor }} }} }}", token)
    assert body["data"] is None and codes(body) == ["BAD_USER_INPUT"], body


async def test_a_subscription_over_post_is_refused(client, token, errors_logged) -> None:
    response = await client.post(
        "/graphql",
        json={"query": "subscription { expiryWarnings { points } }"},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 400, response.text


def b64(value: object) -> str:
    raw = value if isinstance(value, str) else json.dumps(value)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


LISTS = {
    "rewards": ("{ rewards(first: 5, after: $after) { edges { cursor } } }", "rewards"),
    "redemptions": (
        "{ me { redemptions(first: 5, after: $after) { edges { cursor } } } }",
        "redemptions",
    ),
    "history": ("{ me { history(first: 5, after: $after) { edges { cursor } } } }", "history"),
    "notifications": (
        "{ me { notifications(first: 5, after: $after) { edges { cursor } } } }",
        "notification",
    ),
}

MALFORMED = {
    "not base64": lambda kind: "!!!",
    "not json": lambda kind: b64("{nope"),
    "not utf-8": lambda kind: base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    "an object": lambda kind: b64({"kind": kind}),
    "no parts": lambda kind: b64([kind]),
    "another list's": lambda kind: b64(["other", "2026-01-01T00:00:00+00:00", "x"]),
    "too many parts": lambda kind: b64([kind, 1, "a", "b"]),
    "a huge number": lambda kind: b64([kind, 10**30, "0" * 24]),
    "a huge number as the id": lambda kind: b64([kind, "2026-01-01T00:00:00+00:00", 10**30]),
    "NaN": lambda kind: b64(f'["{kind}", NaN, "x"]'),
    "an instant past year 9999": lambda kind: b64([kind, "9999-12-31T23:59:59-14:00", "0" * 24]),
    "an instant without offset": lambda kind: b64([kind, "2026-01-01T00:00:00", "0" * 24]),
    "an empty id": lambda kind: b64([kind, "2026-01-01T00:00:00+00:00", ""]),
    "nested lists": lambda kind: b64([kind, [[[[1]]]], {"$gt": ""}]),
    "very long": lambda kind: "A" * 5000,
}


@pytest.mark.parametrize("case", MALFORMED)
@pytest.mark.parametrize("name", LISTS)
async def test_a_malformed_cursor_is_bad_user_input_on_every_list(
    client, token, name, case, errors_logged
) -> None:
    selection, kind = LISTS[name]
    query = f"query($after: String) {selection}"
    body = await ask(client, query, token, {"after": MALFORMED[case](kind)})
    assert codes(body) == ["BAD_USER_INPUT"], body


@pytest.mark.parametrize("name", ["history", "notifications"])
async def test_a_cursor_id_that_is_no_object_id_is_bad_user_input(
    client, token, name, errors_logged
) -> None:
    selection, kind = LISTS[name]
    cursor = b64([kind, "2026-01-01T00:00:00+00:00", "not-an-object-id"])
    body = await ask(client, f"query($after: String) {selection}", token, {"after": cursor})
    assert codes(body) == ["BAD_USER_INPUT"], body


PROFILE_DOORS = {
    "signUp": (
        "mutation($i: SignUpInput!) { signUp(input: $i) { userErrors { code field } } }",
        {"phone": "13800138009", "password": "correct horse"},
        None,
    ),
    "updateProfile": (
        "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { "
        "userErrors { code field } } }",
        {},
        "member",
    ),
    "createMember": (
        "mutation($i: CreateMemberInput!) { createMember(input: $i) { "
        "userErrors { code field } } }",
        {"idempotencyKey": "k1"},
        "admin",
    ),
}


def door_bearer(who: str | None, token: str, issuer) -> str | None:
    """The token a door of PROFILE_DOORS is called with: the member's, an operator's, or none."""
    if who == "admin":
        return str(issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["members:write"]))
    return token if who == "member" else None


# NUL and lone surrogates never reach a resolver (the next tests): other control characters do.
UNSTORABLE = {"ESC": "Li\x1b[2JLei", "BEL": "Li\x07Lei"}


@pytest.mark.parametrize("text", UNSTORABLE)
@pytest.mark.parametrize(
    ("door", "field"),
    [
        ("signUp", "name"),
        ("updateProfile", "name"),
        ("updateProfile", "email"),
        ("createMember", "name"),
        ("createMember", "email"),
    ],
)
async def test_a_name_or_email_with_a_control_character_or_a_lone_surrogate_is_refused(
    client, runtime, clock, issuer, token, door, text, field, errors_logged
) -> None:
    query, given, who = PROFILE_DOORS[door]
    bearer = door_bearer(who, token, issuer)
    value = UNSTORABLE[text] + ("@example.com" if field == "email" else "")
    variables = {"i": {**given, "name": "Li Lei", field: value}}
    # ASCII JSON: the surrogate travels as its \ud800 escape, which httpx would refuse to encode
    body = json.dumps({"query": query, "variables": variables}).encode()
    headers = {"content-type": "application/json"} | (
        {"authorization": f"Bearer {bearer}"} if bearer else {}
    )
    response = await client.post("/graphql", content=body, headers=headers)
    assert response.status_code == 200, response.text
    [payload] = response.json()["data"].values()
    assert payload["userErrors"] == [{"code": "INVALID_INPUT", "field": ["input", field]}]


# A name of nothing visible: a zero-width space, a direction mark, a BOM, joiners, a wide space.
INVISIBLE = {
    "ZWSP": "\u200b",
    "marks": "\u200e\u200f",
    "BOM+ZWJ": "\ufeff\u200d",
    "ideographic": "\u3000",
}


@pytest.mark.parametrize("text", INVISIBLE)
@pytest.mark.parametrize("door", ["signUp", "updateProfile", "createMember"])
async def test_a_name_with_nothing_visible_is_refused_and_invisible_ends_are_trimmed(
    client, runtime, clock, issuer, token, door, text
) -> None:
    query, given, who = PROFILE_DOORS[door]
    bearer = door_bearer(who, token, issuer)
    headers = {"authorization": f"Bearer {bearer}"} if bearer else {}
    blank = {"query": query, "variables": {"i": {**given, "name": INVISIBLE[text]}}}
    response = await client.post("/graphql", json=blank, headers=headers)
    [payload] = response.json()["data"].values()
    assert payload["userErrors"] == [{"code": "INVALID_INPUT", "field": ["input", "name"]}]
    assert await runtime.mongo["members"].count_documents({"name": INVISIBLE[text]}) == 0
    padded = f"{INVISIBLE[text]}Li\u200dLei{INVISIBLE[text]}"  # the joiner inside stays
    given = {**given, "idempotencyKey": "k2"} if "idempotencyKey" in given else given
    if door == "signUp":
        given = {**given, "phone": "13800138111"}
    if door == "createMember":
        given = {**given, "phone": "13800138222"}
    kept = {"query": query, "variables": {"i": {**given, "name": padded}}}
    response = await client.post("/graphql", json=kept, headers=headers)
    [payload] = response.json()["data"].values()
    assert payload["userErrors"] == []
    assert await runtime.mongo["members"].count_documents({"name": "Li\u200dLei"}) == 1


SURROGATE = "\ud800"  # a lone surrogate: JSON may escape one, Unicode has no such character


async def post(client, body: dict, token: str | None = None) -> dict:
    """POST `body` as JSON escaped to ASCII, as a client may send a lone surrogate."""
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    response = await client.post("/graphql", content=json.dumps(body), headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


# Write paths anyone may call, and a few a member calls: each takes strings a client chose.
WRITES = {
    "signUp": (
        "mutation($i: SignUpInput!) { signUp(input: $i) { userErrors { code } } }",
        {"phone": "13800138000", "password": "long enough", "name": "Li"},
        "name",
    ),
    "logIn": (
        "mutation($i: LogInInput!) { logIn(input: $i) { userErrors { code } } }",
        {"phone": "13800138000", "password": "long enough"},
        "password",
    ),
    "refreshSession": (
        "mutation($i: RefreshSessionInput!) { refreshSession(input: $i) { userErrors { code } } }",
        {"refreshToken": "abc"},
        "refreshToken",
    ),
    "updateProfile": (
        "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { userErrors { code } } }",
        {"name": "Han Meimei"},
        "name",
    ),
    "registerPushToken": (
        "mutation($i: RegisterPushTokenInput!) { registerPushToken(input: $i) { userErrors { code } } }",
        {"platform": "IOS", "token": "device-1"},
        "token",
    ),
}


@pytest.mark.parametrize("name", WRITES)
@pytest.mark.parametrize("bad", [SURROGATE, "Li\x00Lei"], ids=["lone surrogate", "NUL"])
async def test_a_string_that_is_not_plain_unicode_text_is_bad_user_input(
    client, token, name, bad, errors_logged
) -> None:
    document, variables, field = WRITES[name]
    bad_input = {**variables, field: variables[field] + bad}
    body = await post(client, {"query": document, "variables": {"i": bad_input}}, token)
    assert body["data"] is None and codes(body) == ["BAD_USER_INPUT"], body


async def test_a_lone_surrogate_anywhere_in_the_request_is_bad_user_input(
    client, token, errors_logged
) -> None:
    query = "query Q($s: String) { program { name } }"
    cases = [
        {"query": query, "variables": {"s": SURROGATE}},
        {"query": query, "variables": {SURROGATE: "x"}},
        {"query": query, "operationName": "Q" + SURROGATE},
        {"query": query + " # " + SURROGATE},
        {"query": '{ members(search: "\\uD800", first: 1) { edges { cursor } } }'},
        {"query": query, "extensions": {"x": [SURROGATE]}},
    ]
    for case in cases:
        assert codes(await post(client, case, token)) == ["BAD_USER_INPUT"], case


async def test_nul_is_refused_in_literals_and_the_operation_name_too(
    client, token, errors_logged
) -> None:
    literal = (
        'mutation { logIn(input: {phone: "138\\u0000", password: "x"}) { userErrors { code } } }'
    )
    assert codes(await ask(client, literal)) == ["BAD_USER_INPUT"]
    named = {"query": "query Q { program { name } }", "operationName": "Q\x00"}
    assert codes(await post(client, named)) == ["BAD_USER_INPUT"]
    search = "query($s: String!) { members(search: $s, first: 1) { edges { cursor } } }"
    assert codes(await ask(client, search, token, {"s": "a\x00"})) == ["BAD_USER_INPUT"]


async def test_csv_text_may_hold_nul_for_the_importer_to_judge_by_row(
    client, token, issuer, errors_logged
) -> None:
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["import:write"])
    document = "mutation($i: ImportMembersInput!) { importMembers(input: $i) { errorCount } }"
    members = "legacy_id,phone,name,email,birthday,tier,joined_at\nL1,13800138000,Li\x00,,,,\n"
    body = await ask(
        client, document, admin, {"i": {"membersCsv": members, "balancesCsv": "", "dryRun": True}}
    )
    assert "errors" not in body, body
    inline = document.replace("($i: ImportMembersInput!)", "").replace(
        "input: $i", 'input: {membersCsv: "a\\u0000", balancesCsv: "", dryRun: true}'
    )
    assert "errors" not in await ask(client, inline, admin)
