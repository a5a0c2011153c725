"""Every query and mutation field of the served schema, called with malformed arguments, answers a
client error (400, or errors with a code) and never an internal one.

The fields and argument types come from the served schema by introspection, not from a list kept
by hand: a field added tomorrow is walked too. Each argument, at any depth of the selection, gets
values of its own type that a resolver may not expect (empty, huge, negative, out of range,
malformed ids and dates) and values of the wrong type.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    build_client_schema,
    get_introspection_query,
    get_named_type,
)

from app.auth import PrincipalKind
from tests.api.gql import make_member, make_program, member_token


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


SCALARS: dict[str, list[Any]] = {
    "Int": [0, -1, 2**31 - 1, -(2**31), 101, 1],
    "Float": [0.0, -1.5, 1e308, -1e308],
    "Boolean": [True, False],
    "String": [
        "",
        " ",
        "x" * 5000,
        "\u0000",
        "💥" * 100,
        '{"$gt": ""}',
        "+86 138 0000 0000",
        "a\ud800",
    ],
    "ID": [
        "",
        "!!!",
        b64("Member:m_nobody"),
        b64("Reward:"),
        b64("Notification:zz"),
        b64("LedgerEntry:" + "0" * 24),
        b64("Redemption:" + "9" * 5000),
        "x" * 5000,
    ],
    "DateTime": ["", "not a date", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"],
    "Date": ["", "2026-02-30", "9999-12-31", "0001-01-01"],
}
WRONG_TYPES: list[Any] = [{"nested": [1]}, 1.5, "x", [[None]], 2**53]
VARIANTS = 8  # values of the right type per field; then one per wrong type
MAX_DEPTH = 4


def typed_value(type_: GraphQLInputType, variant: int) -> Any:
    if isinstance(type_, GraphQLNonNull):
        return typed_value(type_.of_type, variant)
    if isinstance(type_, GraphQLList):
        return [typed_value(type_.of_type, variant + n) for n in range(variant % 3)]
    if isinstance(type_, GraphQLInputObjectType):
        fields = type_.fields.items()
        return {
            name: typed_value(field.type, variant + n) for n, (name, field) in enumerate(fields)
        }
    if isinstance(type_, GraphQLEnumType):
        names = list(type_.values)
        return names[variant % len(names)]
    assert isinstance(type_, GraphQLScalarType)
    candidates = SCALARS.get(type_.name, SCALARS["String"])
    return candidates[variant % len(candidates)]


class Operation:
    """A document selecting one root field, every argument (at any depth) a variable."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema
        self.variables: list[tuple[str, GraphQLInputType]] = []

    def field(self, name: str, field: GraphQLField, depth: int) -> str:
        arguments = []
        for arg_name, argument in field.args.items():
            variable = f"v{len(self.variables)}"
            self.variables.append((variable, argument.type))
            arguments.append(f"{arg_name}: ${variable}")
        selection = self.selection(get_named_type(field.type), depth + 1)
        return name + (f"({', '.join(arguments)})" if arguments else "") + selection

    def selection(self, type_: Any, depth: int) -> str:
        if isinstance(type_, GraphQLUnionType | GraphQLInterfaceType):
            members = self.schema.get_possible_types(type_)
            inner = " ".join(
                f"... on {member.name} {self.selection(member, depth)}" for member in members
            )
            return f"{{ __typename {inner if depth < MAX_DEPTH else ''} }}"
        if not isinstance(type_, GraphQLObjectType):
            return ""
        parts = ["__typename"]
        for name, field in type_.fields.items():
            leaf = not isinstance(
                get_named_type(field.type),
                GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType,
            )
            if leaf or depth < MAX_DEPTH:
                parts.append(self.field(name, field, depth))
        return "{ " + " ".join(parts) + " }"

    def document(self, kind: str, root: str, field: GraphQLField) -> str:
        body = self.field(root, field, 0)
        declared = ", ".join(f"${name}: {type_}" for name, type_ in self.variables)
        return f"{kind}{f'({declared})' if declared else ''} {{ {body} }}"

    def values(self, variant: int) -> dict[str, Any]:
        if variant < VARIANTS:
            return {
                name: typed_value(type_, variant + n)
                for n, (name, type_) in enumerate(self.variables)
            }
        wrong = WRONG_TYPES[variant - VARIANTS]
        return {name: wrong for name, _ in self.variables}


async def post_walked(
    client: httpx.AsyncClient, token: str, body: dict[str, Any]
) -> httpx.Response:
    """POST `body` as JSON escaped to ASCII, as a client may send a lone surrogate."""
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    return await client.post("/graphql", content=json.dumps(body), headers=headers)


@pytest.fixture
async def served_schema(client) -> GraphQLSchema:
    response = await client.post("/graphql", json={"query": get_introspection_query()})
    return build_client_schema(response.json()["data"])


@pytest.fixture
async def admin(runtime, clock, issuer) -> str:
    await make_program(runtime, clock)
    return issuer.mint(
        PrincipalKind.ADMIN,
        "ops",
        scopes=["members:read", "program:read", "program:write", "points:write", "reports:read"],
    )


def operations(schema: GraphQLSchema) -> dict[str, tuple[str, Operation]]:
    """Each root field by name: a document selecting it, and its variables."""
    roots = [("query", schema.query_type), ("mutation", schema.mutation_type)]
    found = {}
    for kind, root in roots:
        assert root is not None
        for name, field in root.fields.items():
            operation = Operation(schema)
            found[name] = (operation.document(kind, name, field), operation)
    return found


async def test_every_field_with_malformed_arguments_answers_a_client_error(
    client, runtime, clock, issuer, served_schema, admin, caplog
) -> None:
    caplog.set_level(logging.ERROR)
    walked = operations(served_schema)
    assert {"me", "rewards", "node", "member", "redeemReward", "logIn"} <= walked.keys()
    failures = []
    for (document, operation), variant in itertools.product(
        walked.values(), range(VARIANTS + len(WRONG_TYPES))
    ):
        # A member of its own per request: the mutation limit must not hide a resolver. Values of
        # the wrong type fail before any resolver runs, whoever calls: one caller is enough.
        callers = {"member": member_token(issuer, await make_member(runtime, clock))}
        if variant < VARIANTS:
            callers["admin"] = admin  # the admin's fields (member(id)) run only for an admin
        for caller, token in callers.items():
            body = {"query": document, "variables": operation.values(variant)}
            response = await post_walked(client, token, body)
            if response.status_code == 400:
                continue
            errors = response.json().get("errors", []) if response.status_code == 200 else None
            if errors is None or any(
                "code" not in (e.get("extensions") or {})
                or e["message"] == "Internal server error."
                for e in errors
            ):
                failures.append((caller, variant, document[:120], response.text[:300]))
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures == [] and logged == [], (failures[:10], logged[:5])
