"""The public `program` query tells members how points are earned and used, from the version in force."""

from __future__ import annotations

import tomllib
from pathlib import Path

from app.program import apply_program, parse_program
from tests.api.gql import ask, data

EXAMPLES = Path(__file__).parents[2] / "examples"
QUERY = """{ program { name currency moneyCurrency returnWindowDays
  tiers { code threshold multiplier }
  activities { code points perDay total }
  checkIn { pointsByStreak restartAfterLast }
  payWithPoints { pointValue maxShare minPoints step } } }"""


async def test_members_read_the_rules_in_force(client, runtime, clock) -> None:
    config = tomllib.loads((EXAMPLES / "ecommerce.toml").read_text(encoding="utf-8"))
    program = parse_program(config)
    await apply_program(runtime.mongo, clock, program, updated_by="cli:ops")
    public = data(await ask(client, QUERY))["program"]
    assert public["moneyCurrency"] == "CNY" and public["returnWindowDays"] == 7
    assert [tier["multiplier"] for tier in public["tiers"]] == [
        f"{tier.multiplier.normalize():f}" for tier in program.tiers
    ]
    assert public["activities"] == [
        {"code": a.code, "points": a.points, "perDay": a.per_day, "total": a.total}
        for a in program.activities
    ]
    assert public["checkIn"] == {
        "pointsByStreak": [5, 5, 10, 10, 20, 20, 50],
        "restartAfterLast": False,
    }
    assert public["payWithPoints"] == {
        "pointValue": "0.01",
        "maxShare": "0.2",
        "minPoints": 100,
        "step": 100,
    }

    without = program.model_copy(update={"check_in": None, "pay_with_points": None})
    await apply_program(runtime.mongo, clock, without, updated_by="admin:li")
    public = data(await ask(client, QUERY))["program"]
    assert public["checkIn"] is None and public["payWithPoints"] is None
