"""`jifen clear` and `jifen adjust` as an operator runs them, against the test database."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from app.clock import FrozenClock
from app.corrections import JobKind, JobStatus, MemberFilter, create_job, get_job, run_job
from app.db import Mongo
from app.ledger import OpeningEarn, open_books, verify_balances
from app.members import create_member
from tests.processes import jifen_env

JIFEN = str(Path(sys.executable).parent / "jifen")


def jifen(
    mongo_url: str, db_name: str, tmp_path: Path, *args: str, answer: str = ""
) -> subprocess.CompletedProcess[str]:
    env = jifen_env(mongo_url, db_name, tmp_path)
    return subprocess.run(
        [JIFEN, *args], env=env, input=answer, capture_output=True, text=True, timeout=120
    )


async def dormant(mongo: Mongo, clock: FrozenClock, members: int) -> None:
    """Members d0..d{n-1} last active three years ago with 10, 20, 30... points; one active now."""
    long_ago = clock.now() - timedelta(days=3 * 365)
    books = {f"d{n}": [OpeningEarn(10 * (n + 1), long_ago)] for n in range(members)}
    await open_books(mongo, books, long_ago)
    await open_books(mongo, {"fresh": [OpeningEarn(500, clock.now())]}, clock.now())


async def cleared(mongo: Mongo) -> list[str]:
    return sorted([d["member_id"] async for d in mongo["ledger"].find({"kind": "CLEAR"})])


async def test_a_dry_run_prints_the_count_and_points_and_a_refused_confirmation_clears_nothing(
    mongo: Mongo, mongo_url: str, db_name: str, clock: FrozenClock, tmp_path: Path
) -> None:
    await dormant(mongo, clock, 4)
    dry = jifen(mongo_url, db_name, tmp_path, "clear", "--dormant-days", "730", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout) == {"members": 4, "points": 100}
    refused = jifen(
        mongo_url,
        db_name,
        tmp_path,
        "clear",
        "--dormant-days",
        "730",
        "--reason",
        "dormant",
        answer="n\n",
    )
    assert refused.returncode == 1
    assert "Clear 100 points of 4 members?" in refused.stderr
    assert await cleared(mongo) == [] and await mongo["points_jobs"].count_documents({}) == 0


async def test_a_confirmed_clear_runs_the_job_with_a_progress_bar_and_audits_it(
    mongo: Mongo, mongo_url: str, db_name: str, clock: FrozenClock, tmp_path: Path
) -> None:
    await dormant(mongo, clock, 5)
    run = jifen(
        mongo_url,
        db_name,
        tmp_path,
        "clear",
        "--dormant-days",
        "730",
        "--reason",
        "dormant 2y",
        answer="y\n",
    )
    assert run.returncode == 0, run.stderr
    totals = json.loads(run.stdout)
    assert (totals["status"], totals["done"], totals["changed"], totals["points"]) == (
        "done",
        5,
        5,
        150,
    )
    assert "100% 5/5 members, 150 points cleared" in run.stderr
    assert await cleared(mongo) == [f"d{n}" for n in range(5)]
    assert await verify_balances(mongo) == []
    audit = [d async for d in mongo["audit"].find()]
    assert sorted(a["action"] for a in audit) == [
        "points.clear_job.create",
        "points.clear_job.finish",
    ]
    assert all(a["actor"].startswith("cli:") for a in audit)
    nothing = jifen(mongo_url, db_name, tmp_path, "clear", "--dormant-days", "730", "--dry-run")
    assert json.loads(nothing.stdout) == {"members": 0, "points": 0}


async def test_resume_finishes_an_interrupted_job_without_clearing_anyone_twice(
    mongo: Mongo, mongo_url: str, db_name: str, clock: FrozenClock, tmp_path: Path
) -> None:
    await dormant(mongo, clock, 6)
    job = await create_job(
        mongo,
        clock,
        kind=JobKind.CLEAR,
        member_filter=MemberFilter(dormant_days=730),
        reason="dormant",
        actor="cli:ops",
        idempotency_key="k1",
    )
    await run_job(mongo, clock, job.id, owner="crashed", limit=4)  # then the process died
    resumed = jifen(mongo_url, db_name, tmp_path, "clear", "--resume", job.id)
    assert resumed.returncode == 0, resumed.stderr
    done = await get_job(mongo, job.id)
    assert (done.status, done.done, done.changed, done.points) == (JobStatus.DONE, 6, 6, 210)
    assert await cleared(mongo) == [f"d{n}" for n in range(6)]
    assert await verify_balances(mongo) == []
    unknown = jifen(mongo_url, db_name, tmp_path, "clear", "--resume", "pj_nope")
    assert unknown.returncode == 2 and "no job pj_nope" in unknown.stderr


async def test_adjust_gives_and_takes_points_and_refuses_beyond_the_balance(
    mongo: Mongo, mongo_url: str, db_name: str, clock: FrozenClock, tmp_path: Path
) -> None:
    member = await create_member(mongo, clock, name="Han Meimei", tier="member")
    await open_books(mongo, {member.id: [OpeningEarn(100, clock.now())]}, clock.now())
    taken = jifen(mongo_url, db_name, tmp_path, "adjust", member.id, "-30", "--reason", "typo")
    assert taken.returncode == 0, taken.stderr
    assert (json.loads(taken.stdout)["points"], json.loads(taken.stdout)["available"]) == (-30, 70)
    beyond = jifen(mongo_url, db_name, tmp_path, "adjust", member.id, "-71", "--reason", "typo")
    assert beyond.returncode == 2 and "70 available" in beyond.stderr
    nobody = jifen(mongo_url, db_name, tmp_path, "adjust", "m_nobody", "5", "--reason", "x")
    assert nobody.returncode == 2 and "no member m_nobody" in nobody.stderr
    audit = await mongo["audit"].find_one({"action": "points.adjust"})
    assert audit is not None and audit["actor"].startswith("cli:") and audit["note"] == "typo"
