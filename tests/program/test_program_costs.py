"""What configuring the program costs the database, counted on the wire: the same for 2 versions or 40."""

from __future__ import annotations

import pytest

from app.auth import PrincipalKind
from app.program import apply_program, parse_program
from tests.api.gql import ask, data
from tests.api.test_command_counts import commands
from tests.program.configs import demo_config
from tests.program.test_admin_api import UPDATE, VERSION, VERSIONS, update


@pytest.fixture
def admin(issuer) -> str:
    return issuer.mint(PrincipalKind.ADMIN, "li", scopes=["program:read", "program:write"])


@pytest.mark.parametrize("history", [1, 40])
async def test_a_change_and_the_reads_cost_the_same_for_any_history(
    client, settings, admin, history
) -> None:
    for n in range(history):
        await update(client, admin, demo_config(name=f"Mall {n}"), f"k{n}")
    variables = {"input": {"config": demo_config(name="Next"), "idempotencyKey": "next"}}
    sent, body = await commands(settings, lambda: ask(client, UPDATE, admin, variables))
    assert data(body)["updateProgram"]["version"]["version"] == history + 1
    # the key, the current version; current replaced, the old one archived, its audit entry,
    # the key's result
    expected = ["find", "find", "update", "insert", "insert", "insert", "commitTransaction"]
    assert sent == expected, sent

    sent, body = await commands(settings, lambda: ask(client, VERSION, admin, {"v": 1}))
    assert data(body)["programVersion"]["config"]["name"] == "Mall 0"
    assert sent == ["find"], sent
    sent, body = await commands(settings, lambda: ask(client, VERSIONS, admin))
    assert len(data(body)["programVersions"]["edges"]) == 2
    assert sent == ["find", "find"], sent  # the current version's number, then the page by _id


async def test_reading_a_version_examines_only_that_version(runtime, clock) -> None:
    for n in range(30):
        program = parse_program(demo_config(name=f"Mall {n}"))
        await apply_program(runtime.mongo, clock, program, updated_by="cli:ops")
    plan = await runtime.mongo.db.command(
        "explain",
        {"find": "program", "filter": {"_id": {"$in": ["v3", "v2", "current"]}}},
        verbosity="executionStats",
    )
    assert plan["executionStats"]["totalDocsExamined"] == 3
