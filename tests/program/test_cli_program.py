"""`jifen program apply | show | versions` as an operator runs them, against the test database."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pytest

from app.db import Mongo
from app.program import get_program, parse_program
from app.program.diff import diff_programs
from tests.processes import JIFEN, jifen_env

# A card program as its operator writes it: money as strings or numbers, instants with offsets.
CARD_PROGRAM = """
name = "Bank Card Rewards"
currency = "points"
money_currency = "CNY"
point_value = "0.005"
timezone = "Asia/Shanghai"
return_window_days = 0

[[tiers]]
code = "classic"
name = "Classic"
threshold = 0

[[tiers]]
code = "platinum"
name = "Platinum"
threshold = 50000
multiplier = 1.5

[expiry.default]
kind = "period_end"
period = "month"
periods_after = 23

[earn.base]
points = 1
per = "20"
rounding = "line"

[[earn.rules]]
id = "dining"
categories = ["dining"]
multiplier = 5

[[campaigns]]
id = "double-11"
name = "Double 11"
starts_at = 2026-11-11T00:00:00+08:00
ends_at = 2026-11-12T00:00:00+08:00
multiplier = "2"

[pay_with_points]
point_value = "0.01"
max_share = "0.5"
"""


@pytest.fixture
def jifen(mongo_url: str, db_name: str, tmp_path: Path):
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = jifen_env(mongo_url, db_name, tmp_path)
        return subprocess.run(
            [JIFEN, "program", *args], env=env, capture_output=True, text=True, timeout=120
        )

    return run


def write(tmp_path: Path, text: str, name: str = "program.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


async def test_apply_then_show_round_trips(jifen, mongo: Mongo, tmp_path: Path) -> None:
    applied = jifen("apply", write(tmp_path, CARD_PROGRAM), "--note", "launch")
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.startswith("applied version 1,")
    program = await get_program(mongo)
    assert program.earn.rules[0].multiplier == 5 and program.tiers[1].multiplier == 1.5
    assert program.updated_by is not None and program.updated_by.startswith("cli:")
    assert program.note == "launch"

    shown = jifen("show")
    assert shown.returncode == 0, shown.stderr
    assert (
        tomllib.loads(shown.stdout)["campaigns"][0]["starts_at"] == program.campaigns[0].starts_at
    )
    again = jifen("apply", write(tmp_path, shown.stdout, "shown.toml"))
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "no change: version 1 is current"

    as_json = json.loads(jifen("show", "--format", "json").stdout)
    assert as_json["pay_with_points"]["max_share"] == "0.5" and as_json["version"] == 1


async def test_an_invalid_file_lists_every_error_and_applies_nothing(
    jifen, mongo: Mongo, tmp_path: Path
) -> None:
    broken = CARD_PROGRAM.replace("multiplier = 5", "multiplier = 500").replace(
        'timezone = "Asia/Shanghai"', 'timezone = "Mars/Olympus"'
    )
    result = jifen("apply", write(tmp_path, broken))
    assert result.returncode == 1
    assert "earn.rules[0].multiplier: Input should be less than or equal to 100" in result.stderr
    assert "timezone: unknown time zone 'Mars/Olympus'" in result.stderr
    assert await mongo["program"].count_documents({}) == 0
    unreadable = jifen("apply", write(tmp_path, "name = ", "bad.toml"))
    assert unreadable.returncode == 1 and "bad.toml" in unreadable.stderr


async def test_a_dry_run_prints_the_diff_and_applies_nothing(
    jifen, mongo: Mongo, tmp_path: Path
) -> None:
    assert jifen("apply", write(tmp_path, CARD_PROGRAM)).returncode == 0
    changed = CARD_PROGRAM.replace("return_window_days = 0", "return_window_days = 7")
    dry = jifen("apply", "--dry-run", write(tmp_path, changed, "next.toml"))
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        "dry run: would apply version 2, 1 change(s)",
        "  return_window_days: 0 → 7",
    ]
    assert (await get_program(mongo)).return_window_days == 0


async def test_versions_and_show_an_old_version(jifen, tmp_path: Path) -> None:
    assert jifen("apply", write(tmp_path, CARD_PROGRAM)).returncode == 0
    renamed = CARD_PROGRAM.replace("Bank Card Rewards", "Card Points")
    assert jifen("apply", write(tmp_path, renamed, "v2.toml"), "--note", "rename").returncode == 0
    lines = jifen("versions").stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["v2", "v1"]
    assert lines[0].endswith("rename") and " cli:" in lines[0]
    old = jifen("show", "--version", "1")
    assert tomllib.loads(old.stdout)["name"] == "Bank Card Rewards"
    missing = jifen("show", "--version", "7")
    assert missing.returncode == 1 and "no program version 7" in missing.stderr


EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.mark.parametrize("example", sorted(path.name for path in EXAMPLES.glob("*.toml")))
async def test_each_reference_program_applies_and_shows_back_unchanged(
    jifen, mongo: Mongo, tmp_path: Path, example: str
) -> None:
    applied = jifen("apply", str(EXAMPLES / example))
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.startswith("applied version 1,")
    expected = parse_program(tomllib.loads((EXAMPLES / example).read_text(encoding="utf-8")))
    stored = await get_program(mongo)
    assert diff_programs(expected, stored) == [] and stored.version == 1
    shown = jifen("show")
    again = jifen("apply", write(tmp_path, shown.stdout, "shown.toml"))
    assert again.stdout.strip() == "no change: version 1 is current", again.stderr
