"""`jifen report ...` as an operator runs it: CSV on stdout that matches the raw ledger."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections import Counter
from datetime import date
from pathlib import Path

from app.clock import FrozenClock
from app.db import Mongo
from tests.processes import JIFEN, jifen_env
from tests.reports.ledger_story import build_story, end_of, recount, recount_split


def report(
    mongo_url: str, db_name: str, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = jifen_env(mongo_url, db_name, tmp_path)
    return subprocess.run(
        [JIFEN, "report", *args], env=env, capture_output=True, text=True, timeout=120
    )


async def test_liability_and_issuance_as_csv(
    mongo: Mongo, mongo_url: str, db_name: str, clock: FrozenClock, tmp_path: Path
) -> None:
    await build_story(mongo, clock)
    done = report(mongo_url, db_name, tmp_path, "liability", "--as-of", "2026-03-31", "--csv")
    assert done.returncode == 0, done.stderr
    [row] = list(csv.DictReader(io.StringIO(done.stdout)))
    points, debt, money = await recount(mongo, end_of(date(2026, 3, 31)))
    assert (int(row["points"]), int(row["debt"]), row["money"]) == (points, debt, f"{money:f}")
    assert row["as_of"] == "2026-03-31T15:59:59.999000+00:00"
    split = tuple(int(row[name]) for name in ("available", "pending", "held"))
    assert split == await recount_split(mongo, end_of(date(2026, 3, 31)))

    args = ("issuance", "--from", "2026-01-01", "--to", "2026-05-31", "--by", "month", "--csv")
    done = report(mongo_url, db_name, tmp_path, *args)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [r["period"] for r in rows] == [f"2026-0{month}-01" for month in range(1, 6)]
    raw: Counter[str] = Counter()
    async for entry in mongo["ledger"].find({}):
        raw[entry["kind"]] += entry["points"]
    assert sum(int(r["issued"]) for r in rows) == raw["EARN"]
    assert sum(int(r["redeemed"]) for r in rows) == -raw["REDEEM"]
    assert sum(int(r["net"]) for r in rows) == sum(raw.values())


async def test_json_lines_without_csv_and_refusals_on_stderr(
    mongo: Mongo, mongo_url: str, db_name: str, clock: FrozenClock, tmp_path: Path
) -> None:
    await build_story(mongo, clock)
    done = report(mongo_url, db_name, tmp_path, "members", "--dormant-days", "30")
    assert done.returncode == 0, done.stderr
    groups = [json.loads(line) for line in done.stdout.splitlines()]
    assert [g["group"] for g in groups] == ["active", "dormant", "never_active"]
    assert sum(g["members"] for g in groups) == await mongo["accounts"].count_documents({})

    reversed_ = report(
        mongo_url, db_name, tmp_path, "breakage", "--from", "2026-02-01", "--to", "2026-01-01"
    )
    assert reversed_.returncode == 2 and "--to" in reversed_.stderr
    naive = report(mongo_url, db_name, tmp_path, "liability", "--as-of", "2026-03-31T12:00:00")
    assert naive.returncode == 2 and "offset" in naive.stderr and "--as-of:" in naive.stderr
