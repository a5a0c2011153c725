"""`jifen webhooks` as an operator runs it, against the test database: add (the secret printed
once), list, test, pause, resume, replay, delete; a refusal is a message and exit status 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.db import Mongo
from tests.processes import jifen_env

JIFEN = str(Path(sys.executable).parent / "jifen")


def jifen(
    mongo_url: str, db_name: str, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = jifen_env(mongo_url, db_name, tmp_path)
    return subprocess.run(
        [JIFEN, "webhooks", *args], env=env, capture_output=True, text=True, timeout=120
    )


async def test_an_operator_manages_an_endpoint_from_the_command_line(
    mongo: Mongo, mongo_url: str, db_name: str, tmp_path: Path
) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return jifen(mongo_url, db_name, tmp_path, *args)

    added = run(
        "add", "http://localhost:9/hooks", "--event", "points.earned", "--event", "tier.changed"
    )
    assert added.returncode == 0, added.stderr
    endpoint_id, secret_line = added.stdout.splitlines()
    assert secret_line.startswith("secret (shown once): whsec_")
    listed = run("list")
    assert endpoint_id in listed.stdout and "points.earned,tier.changed" in listed.stdout
    assert "whsec_" not in listed.stdout
    pinged = run("test", endpoint_id)
    assert pinged.returncode == 0 and pinged.stdout.startswith("msg_")
    assert run("pause", endpoint_id).stdout.split() == [endpoint_id, "paused"]
    assert run("resume", endpoint_id).stdout.split() == [endpoint_id, "active"]
    replayed = run("replay", endpoint_id, "2026-01-01T00:00+00:00", "2026-01-02T00:00+00:00")
    assert replayed.stdout.strip() == "0 events queued again", replayed.stderr
    refused = run("add", "http://example.com/hooks", "--event", "points.earned")
    assert refused.returncode == 1 and "https" in refused.stderr
    unknown = run("add", "https://example.com/hooks", "--event", "points.stolen")
    assert unknown.returncode == 1 and "points.stolen" in unknown.stderr
    assert run("delete", endpoint_id).returncode == 0
    assert run("pause", endpoint_id).returncode == 1
    assert await mongo["webhook_endpoints"].count_documents({}) == 0
