"""The partner fields, called by a partner (and an operator) with malformed arguments, answer client
errors and never an internal one (the walk of tests/api/test_schema_walk.py, as partners)."""

from __future__ import annotations

import itertools
import logging

from app.auth import PrincipalKind
from tests.api.gql import earn_points, make_member
from tests.api.test_schema_walk import (  # noqa: F401 (served_schema is a fixture)
    VARIANTS,
    WRONG_TYPES,
    operations,
    post_walked,
    served_schema,
)
from tests.partners.api import make_program, partner_token

PARTNER_FIELDS = {
    "recordPurchase",
    "recordRefund",
    "holdPoints",
    "capturePoints",
    "releasePoints",
    "quoteOffset",
    "memberBalance",
    "previewEarn",
    "registerPartner",
}


async def test_partner_fields_with_malformed_arguments_answer_client_errors(
    client,
    runtime,
    clock,
    issuer,
    served_schema,  # noqa: F811
    caplog,
) -> None:
    caplog.set_level(logging.ERROR)
    await make_program(runtime, clock)
    member = await make_member(runtime, clock, phone="+8613800138000")
    await earn_points(runtime, clock, member, 1_000, "seed")
    callers = {
        "partner": await partner_token(
            runtime, clock, issuer, ("points:earn", "points:redeem", "points:read")
        ),
        "admin": issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["partners:write", "program:read"]),
    }
    walked = {name: op for name, op in operations(served_schema).items() if name in PARTNER_FIELDS}
    assert walked.keys() == PARTNER_FIELDS
    failures = []
    for (document, operation), variant, token in itertools.product(
        walked.values(), range(VARIANTS + len(WRONG_TYPES)), callers.values()
    ):
        body = {"query": document, "variables": operation.values(variant)}
        response = await post_walked(client, token, body)
        if response.status_code == 400:
            continue
        errors = response.json().get("errors", []) if response.status_code == 200 else None
        if errors is None or any(
            "code" not in (e.get("extensions") or {}) or e["message"] == "Internal server error."
            for e in errors
        ):
            failures.append((variant, document[:80], response.text[:300]))
    logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures == [] and logged == [], (failures[:10], logged[:5])
