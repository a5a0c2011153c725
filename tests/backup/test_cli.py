"""`jifen backup` and `jifen restore` as an operator runs them: real processes, one of them killed
half-way through a restore."""

from __future__ import annotations

import asyncio
import gzip
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

from app.backup import RESTORE_MARKER
from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import OpeningEarn, open_books
from tests.processes import JIFEN, jifen_env, served_issuer


def _jifen(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([JIFEN, *args], env=env, capture_output=True, text=True, timeout=300)


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([JIFEN, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


async def test_a_restore_killed_half_way_is_finished_by_a_second_restore_with_replace(
    mongo: Mongo, target: Mongo, mongo_url: str, db_name: str, clock: FrozenClock, tmp_path: Path
) -> None:
    # 500 members: 2,500 documents, enough for the kill to land between the first batch and the last
    books = {f"m{n:05d}": [OpeningEarn(100, clock.now())] * 2 for n in range(500)}
    await open_books(mongo, books, clock.now())
    archive = tmp_path / "books.jifen-backup.gz"
    backed_up = _jifen(
        jifen_env(mongo_url, db_name, tmp_path / "data"), "backup", "--out", str(archive)
    )
    assert backed_up.returncode == 0, backed_up.stderr
    assert "documents in" in backed_up.stdout
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600

    env = jifen_env(mongo_url, target.db.name, tmp_path / "data")
    restoring = _start(env, "restore", str(archive))
    try:
        deadline = time.monotonic() + 120
        while await target["accounts"].estimated_document_count() == 0:
            assert restoring.poll() is None, restoring.communicate()
            assert time.monotonic() < deadline, "the restore wrote nothing in 120 s"
            await asyncio.sleep(0.01)  # polling: the loop's condition decides, with a deadline
        os.kill(restoring.pid, signal.SIGKILL)
    finally:
        restoring.kill()
        restoring.wait()
    # Cut off half-way: marked, some documents in, not all.
    assert await target["meta"].find_one({"_id": RESTORE_MARKER}) is not None
    assert await target["lots"].count_documents({}) < 1_000

    again = _jifen(env, "restore", str(archive))
    assert again.returncode == 2
    assert "cut off half-way" in again.stderr and "--replace" in again.stderr

    finished = _jifen(env, "restore", str(archive), "--replace")
    assert finished.returncode == 0, finished.stderr
    assert "ledger verify: no drift" in finished.stdout
    assert await target["meta"].find_one({"_id": RESTORE_MARKER}) is None
    for name in ("accounts", "ledger", "lots"):
        assert await target[name].count_documents({}) == await mongo[name].count_documents({})
    ours = {i["name"] async for i in await mongo["ledger"].list_indexes()}
    assert {i["name"] async for i in await target["ledger"].list_indexes()} == ours
    verified = _jifen(env, "ledger", "verify")
    assert verified.returncode == 0 and "no drift" in verified.stdout


async def test_signing_keys_are_archived_only_when_asked_and_restored_for_the_owner_alone(
    mongo: Mongo, target: Mongo, mongo_url: str, db_name: str, clock: FrozenClock, tmp_path: Path
) -> None:
    await open_books(mongo, {"m1": [OpeningEarn(100, clock.now())]}, clock.now())
    source_dir = tmp_path / "source"
    served_issuer(source_dir)  # the data folder's generated signing key
    [key] = (source_dir / "keys").iterdir()
    env = jifen_env(mongo_url, db_name, source_dir)
    plain, with_keys = tmp_path / "plain.jifen-backup.gz", tmp_path / "keys.jifen-backup.gz"
    assert _jifen(env, "backup", "--out", str(plain)).returncode == 0
    done = _jifen(env, "backup", "--out", str(with_keys), "--include-keys")
    assert done.returncode == 0 and "with signing keys" in done.stdout
    assert b"PRIVATE KEY" not in gzip.decompress(plain.read_bytes())
    assert b"PRIVATE KEY" in gzip.decompress(with_keys.read_bytes())
    for archive in (plain, with_keys):
        assert stat.S_IMODE(archive.stat().st_mode) == 0o600

    new_dir = tmp_path / "new"
    restore_env = jifen_env("mongodb://unused", target.db.name, new_dir)
    restored = _jifen(restore_env, "restore", str(with_keys), "--mongodb-url", mongo_url)
    assert restored.returncode == 0, restored.stderr
    copied = new_dir / "keys" / key.name
    assert copied.read_bytes() == key.read_bytes()
    assert stat.S_IMODE(copied.stat().st_mode) == 0o600
