"""The operations commands as an operator runs them, against the test database."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import Rolling, earn
from app.program import save_program
from app.seed import DEMO_PROGRAM
from tests.processes import jifen_env

JIFEN = str(Path(sys.executable).parent / "jifen")


def jifen(
    mongo_url: str, db_name: str, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = jifen_env(mongo_url, db_name, tmp_path)
    return subprocess.run([JIFEN, *args], env=env, capture_output=True, text=True, timeout=120)


async def test_warn_expire_and_verify_by_hand(
    mongo: Mongo, mongo_url: str, db_name: str, clock: FrozenClock, tmp_path: Path
) -> None:
    await save_program(mongo, clock, DEMO_PROGRAM)
    await earn(
        mongo, clock, member_id="m1", points=120, idempotency_key="e1", policy=Rolling(days=10)
    )
    at = clock.now()

    warned = jifen(
        mongo_url, db_name, tmp_path, "warn", "--as-of", (at + timedelta(days=4)).isoformat()
    )
    assert warned.returncode == 0, warned.stderr
    assert json.loads(warned.stdout) == {"handled": 1}
    again = jifen(
        mongo_url, db_name, tmp_path, "warn", "--as-of", (at + timedelta(days=4)).isoformat()
    )
    assert json.loads(again.stdout) == {"handled": 0}

    expired = jifen(
        mongo_url, db_name, tmp_path, "expire", "--as-of", (at + timedelta(days=10)).isoformat()
    )
    assert json.loads(expired.stdout) == {"handled": 1}
    account = await mongo["accounts"].find_one({"_id": "m1"})
    assert account is not None and account["available"] == 0 and account["lifetime_expired"] == 120

    verified = jifen(mongo_url, db_name, tmp_path, "ledger", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "no drift" in verified.stdout


async def test_verify_reports_drift_and_fails(
    mongo: Mongo, mongo_url: str, db_name: str, clock: FrozenClock, tmp_path: Path
) -> None:
    await earn(mongo, clock, member_id="m1", points=50, idempotency_key="e1")
    await mongo["accounts"].update_one({"_id": "m1"}, {"$inc": {"available": 7}})  # corruption
    verified = jifen(mongo_url, db_name, tmp_path, "ledger", "verify", "--member", "m1")
    assert verified.returncode == 1
    assert "m1" in verified.stdout


def test_as_of_needs_an_offset(mongo_url: str, db_name: str, tmp_path: Path) -> None:
    result = jifen(mongo_url, db_name, tmp_path, "expire", "--as-of", "2027-01-01T00:00:00")
    assert result.returncode != 0
    assert "offset" in result.stderr


async def test_operators_see_and_retry_dead_deliveries(
    mongo: Mongo, mongo_url: str, db_name: str, clock: FrozenClock, tmp_path: Path
) -> None:
    from app.notifications.outbox import enqueue

    await enqueue(mongo, clock, kind="push", idempotency_key="k-dead", payload={"n": 1})
    await mongo["outbox"].update_one(
        {"idempotency_key": "k-dead"},
        {"$set": {"status": "dead", "attempts": 8, "last_error": "gateway answered 503"}},
    )
    listed = jifen(mongo_url, db_name, tmp_path, "outbox")
    [line] = listed.stdout.splitlines()
    delivery = json.loads(line)
    assert delivery["key"] == "k-dead" and delivery["last_error"] == "gateway answered 503"
    assert jifen(mongo_url, db_name, tmp_path, "outbox", "--retry", delivery["id"]).returncode == 0
    after = await mongo["outbox"].find_one({"idempotency_key": "k-dead"})
    assert after is not None and after["status"] == "pending" and after["attempts"] == 0
    assert jifen(mongo_url, db_name, tmp_path, "outbox", "--retry", delivery["id"]).returncode == 1


# Runs the CLI with the `secantus` package hidden, as on an install without the `embedded` extra.
WITHOUT_SECANTUS = """
import sys
from importlib.abc import MetaPathFinder

class NotInstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "secantus" or name.startswith("secantus."):
            raise ModuleNotFoundError(name)
        return None

sys.meta_path.insert(0, NotInstalled())
from app.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_serve_without_the_embedded_extra_or_a_url_exits_2_saying_what_to_do(
    tmp_path: Path,
) -> None:
    env = {
        k: v for k, v in jifen_env("unused", "unused", tmp_path).items() if k != "JIFEN_MONGODB_URL"
    }
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_SECANTUS, "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "pip install 'jifen[embedded]'" in done.stderr
    assert "JIFEN_MONGODB_URL" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_referral_and_unpaid_redemption_jobs_run_by_hand(
    mongo_url: str, db_name: str, tmp_path: Path
) -> None:
    """Both new jobs have a command, as every scheduled job does (nothing due: 0 handled)."""
    for job in ("referrals", "release-unpaid"):
        result = jifen(mongo_url, db_name, tmp_path, job, "--as-of", "2027-01-01T00:00:00+00:00")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {"handled": 0}
