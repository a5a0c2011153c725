"""The worker's scheduled backup of the embedded database: due once per interval however often the
worker looks or restarts, the newest few kept, off on a MongoDB URL."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

from app.backup import scheduled_archives, take_scheduled_backup, verify_archive
from app.clock import FrozenClock
from app.config import Environment, Settings
from app.db import Mongo
from app.ledger import LEDGER_SHAPE, OpeningEarn, open_books
from app.worker import Worker
from app.worker.schedule import backup_job

DAY = timedelta(days=1)


async def test_a_backup_is_taken_once_a_day_and_the_newest_are_kept(
    mongo: Mongo, clock: FrozenClock, tmp_path: Path
) -> None:
    await open_books(mongo, {"m1": [OpeningEarn(100, clock.now())]}, clock.now())
    folder = tmp_path / "data" / "backups"
    taken, start = [], clock.now()
    for hours in (0, 1, 23, 24, 30, 48, 72):
        clock.set(start + timedelta(hours=hours))
        path = await take_scheduled_backup(mongo, clock, folder, every=DAY, keep=2)
        taken.append(path is not None)
    assert taken == [True, False, False, True, False, True, True]
    kept = scheduled_archives(folder)
    assert [at for at, _ in kept] == [clock.now(), clock.now() - DAY]  # the newest two
    for _, path in kept:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert verify_archive(path, newest_schema=LEDGER_SHAPE).keys == []


async def test_a_backup_cut_off_leaves_no_archive_and_the_next_run_takes_one(
    mongo: Mongo, clock: FrozenClock, tmp_path: Path
) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    (folder / "jifen-20260115T080000000000Z.jifen-backup.gz.partial").write_bytes(b"\x1f\x8b")
    assert scheduled_archives(folder) == []  # a partial file is no backup
    await take_scheduled_backup(mongo, clock, folder, every=DAY, keep=7)
    assert [path.name.endswith(".gz") for path in folder.iterdir()] == [True]


async def test_the_worker_runs_it_under_a_lease_on_the_embedded_database_only(
    mongo: Mongo, clock: FrozenClock, tmp_path: Path, mongo_url: str
) -> None:
    embedded = Settings(env=Environment.TEST, data_dir=tmp_path / "data")
    job = backup_job(embedded, timedelta(seconds=30))
    assert job is not None
    worker = Worker(mongo, clock, [job])
    outcome = await worker.run_job(job)
    assert outcome is not None and outcome.handled == 1
    assert len(scheduled_archives(tmp_path / "data" / "backups")) == 1
    assert (await worker.run_job(job)).handled == 0  # type: ignore[union-attr]

    production = embedded.model_copy(update={"mongodb_url": mongo_url})
    assert backup_job(production, timedelta(seconds=30)) is None  # mongodump there
    off = embedded.model_copy(update={"backup_every_hours": 0})
    assert backup_job(off, timedelta(seconds=30)) is None
