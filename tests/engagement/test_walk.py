"""recordActivity called by a partner holding points:earn with malformed arguments answers a
client error or a userError, never an internal one (the schema walk calls it as a member only)."""

from __future__ import annotations

import logging

from graphql import build_client_schema, get_introspection_query

from tests.api.test_schema_walk import VARIANTS, WRONG_TYPES, operations, post_walked
from tests.engagement.api import make_program, partner_token


async def test_record_activity_with_malformed_arguments(
    client, runtime, clock, issuer, caplog
) -> None:
    caplog.set_level(logging.ERROR)
    await make_program(runtime, clock)
    response = await client.post("/graphql", json={"query": get_introspection_query()})
    schema = build_client_schema(response.json()["data"])
    document, operation = operations(schema)["recordActivity"]
    token = partner_token(issuer)
    failures = []
    for variant in range(VARIANTS + len(WRONG_TYPES)):
        body = {"query": document, "variables": operation.values(variant)}
        response = await post_walked(client, token, body)
        if response.status_code == 400:
            continue
        answer = response.json()
        errors = answer.get("errors") or []
        payload = (answer.get("data") or {}).get("recordActivity")
        refused = payload is not None and payload["userErrors"]
        if any("code" not in (e.get("extensions") or {}) for e in errors) or not (
            errors or refused
        ):
            failures.append((variant, response.text[:300]))
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures == [] and logged == [], (failures[:5], logged[:5])
