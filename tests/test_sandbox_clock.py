"""The sandbox clock as a brand uses it: a development instance and its worker, real processes on
the test's database, `jifen clock` moving their time, a member's points maturing and expiring as
the demo program says; refused outside development."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from app.auth import PrincipalKind
from app.clock import SystemClock
from app.db import Mongo
from app.ledger import earn
from app.sandbox_clock import parse_duration
from app.seed import DEMO_MEMBER_ID, DEMO_PROGRAM, seed_demo
from tests.processes import JIFEN, api_process, jifen_env, served_issuer, stop

BALANCE = "{ me { balance { available pending } } }"


@pytest.fixture
def dev_env(mongo_url: str, db_name: str, tmp_path: Path) -> dict[str, str]:
    env = jifen_env(mongo_url, db_name, tmp_path / "data", worker_interval_seconds="0.2")
    env["JIFEN_ENV"] = "dev"
    return env


@pytest.fixture
def served(dev_env: dict[str, str], tmp_path: Path) -> Iterator[int]:
    """An API process and a worker, both in development, on the test's database."""
    served_issuer(tmp_path / "data")  # the data folder and its key, as `serve` would make them
    with (tmp_path / "worker.log").open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker"], env=dev_env, stdout=log, stderr=log
        )
    try:
        with api_process(dev_env, tmp_path / "api.log") as port:
            yield port
    finally:
        stop(worker)


def _jifen(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([JIFEN, *args], env=env, capture_output=True, text=True, timeout=120)


def _clock(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return _jifen(env, "clock", *args)


def _sandbox_now(port: int) -> datetime:
    ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json()
    return datetime.fromisoformat(ready["sandbox_clock"]["now"])


def _until_balance(port: int, token: str, expected: dict[str, int], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={"query": BALANCE},
            headers={"authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        balance = answer["data"]["me"]["balance"]
        if balance == expected:
            return
        assert time.monotonic() < deadline, f"balance {balance}, not {expected}"
        time.sleep(0.1)


async def test_moving_the_sandbox_clock_matures_and_expires_points_as_the_program_says(
    mongo: Mongo, dev_env: dict[str, str], served: int, tmp_path: Path
) -> None:
    real = SystemClock()
    # The demo program (a 7-day return window, points expire at the end of the next year) and
    # its member, with points of their own earned today.
    await seed_demo(mongo, real)
    account = await mongo["accounts"].find_one({"_id": DEMO_MEMBER_ID})
    assert account is not None
    had = account["available"]
    earned = real.now()
    await earn(
        mongo,
        real,
        member_id=DEMO_MEMBER_ID,
        points=300,
        idempotency_key="purchase-1",
        policy=DEMO_PROGRAM.expiry.default,
        tz=DEMO_PROGRAM.timezone,
        available_at=earned + timedelta(days=DEMO_PROGRAM.return_window_days),
    )
    # Minted on the real clock and checked on it: no jump of the sandbox's expires it.
    token = served_issuer(tmp_path / "data").mint(PrincipalKind.MEMBER, DEMO_MEMBER_ID)
    assert abs(_sandbox_now(served) - real.now()) < timedelta(seconds=30)
    _until_balance(served, token, {"available": had, "pending": 300})

    moved = _clock(dev_env, "advance", "8d")
    assert moved.returncode == 0, moved.stderr
    assert "the real time + 8 days" in moved.stdout
    # /readyz shows the new time as soon as the command has returned.
    assert abs(_sandbox_now(served) - (real.now() + timedelta(days=8))) < timedelta(seconds=30)
    _until_balance(served, token, {"available": had + 300, "pending": 0})
    # An operator's adjustment from the CLI is recorded on the sandbox time too.
    adjusted = _jifen(dev_env, "adjust", DEMO_MEMBER_ID, "10", "--reason", "goodwill")
    assert adjusted.returncode == 0, adjusted.stderr
    entry = await mongo["ledger"].find_one(
        {"member_id": DEMO_MEMBER_ID, "kind": "ADJUST"}, sort=[("recorded_at", -1)]
    )
    assert entry is not None and entry["points"] == 10
    assert abs(entry["recorded_at"] - (real.now() + timedelta(days=8))) < timedelta(seconds=30)
    _until_balance(served, token, {"available": had + 310, "pending": 0})

    # Earned this year (Shanghai), the points expire at the end of the next: all but those
    # that never do.
    after_expiry = datetime(earned.year + 2, 1, 2, tzinfo=UTC)
    moved = _clock(dev_env, "set", after_expiry.date().isoformat())
    assert moved.returncode == 0, moved.stderr
    assert _sandbox_now(served) >= after_expiry
    lasting = mongo["lots"].find({"member_id": DEMO_MEMBER_ID, "expires_at": None})
    kept = sum([lot["remaining"] async for lot in lasting])  # the demo's goodwill adjustment
    _until_balance(served, token, {"available": kept, "pending": 0})  # exact before any job
    # The worker's expiry job writes the EXPIRE entry on its next tick, on the sandbox time.
    deadline = time.monotonic() + 60
    while (
        expiry := await mongo["ledger"].find_one({"member_id": DEMO_MEMBER_ID, "kind": "EXPIRE"})
    ) is None:
        assert time.monotonic() < deadline, "no expiry job ran in 60 s"
        await asyncio.sleep(0.1)
    assert expiry["recorded_at"] >= after_expiry

    # Back before the expiry just recorded: refused, the clock unmoved, unless forced.
    back = _clock(dev_env, "set", f"{earned.year + 1}-06-01")
    assert back.returncode == 2 and "before the last ledger entry" in back.stderr
    assert _sandbox_now(served) >= after_expiry
    assert _clock(dev_env, "reset").returncode == 2
    reset = _clock(dev_env, "reset", "--force")
    assert reset.returncode == 0 and "the real time\n" in reset.stdout
    assert abs(_sandbox_now(served) - real.now()) < timedelta(seconds=30)


async def test_the_clock_is_refused_outside_development(
    mongo: Mongo, mongo_url: str, db_name: str, tmp_path: Path
) -> None:
    env = jifen_env(mongo_url, db_name, tmp_path)
    env.update(JIFEN_ENV="production", JIFEN_JWKS_URL="https://auth.example.com/jwks.json")
    for args in (["advance", "30d"], ["set", "2030-01-01"], ["show"], ["reset"]):
        refused = _clock(env, *args)
        assert refused.returncode == 2, refused.stdout
        assert "only with JIFEN_ENV=dev (this instance is production)" in refused.stderr
    assert await mongo["settings"].count_documents({}) == 0


def test_durations_read_as_a_person_writes_them() -> None:
    assert parse_duration("30d") == timedelta(days=30)
    assert parse_duration("1d12h") == timedelta(days=1, hours=12)
    assert parse_duration("2w") == timedelta(weeks=2)
    assert parse_duration("90m") == timedelta(minutes=90)
    for bad in ("", "30", "d", "3x", "-1d", "1.5d"):
        with pytest.raises(ValueError):
            parse_duration(bad)
