"""The worker's scheduled backups: into the data folder's `backups/`, the newest few kept.

A backup is due when the newest archive there is older than the interval, judged from the
instants in the archives' names, so a restarted worker neither repeats a backup nor skips one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.backup.archive import SUFFIX
from app.backup.snapshot import take_backup
from app.clock import Clock
from app.db import Mongo

_STAMP = "%Y%m%dT%H%M%S%fZ"
_PREFIX = "jifen-"


def archive_name(at: datetime) -> str:
    return f"{_PREFIX}{at.astimezone(UTC).strftime(_STAMP)}{SUFFIX}"


def taken_at(path: Path) -> datetime | None:
    name = path.name
    if not (name.startswith(_PREFIX) and name.endswith(SUFFIX)):
        return None
    try:
        return datetime.strptime(name[len(_PREFIX) : -len(SUFFIX)], _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def scheduled_archives(folder: Path) -> list[tuple[datetime, Path]]:
    """The finished scheduled backups in `folder`, newest first."""
    if not folder.is_dir():
        return []
    found = [(at, path) for path in folder.iterdir() if (at := taken_at(path)) is not None]
    return sorted(found, reverse=True)


def _clear_partials(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for partial in folder.glob(f"*{SUFFIX}.partial"):  # a backup cut off by a stop or a crash
        partial.unlink(missing_ok=True)


async def take_scheduled_backup(
    mongo: Mongo, clock: Clock, folder: Path, *, every: timedelta, keep: int
) -> Path | None:
    """A backup if one is due (None otherwise), then only the newest `keep` are kept."""
    now = clock.now()
    existing = scheduled_archives(folder)
    if existing and now - existing[0][0] < every:
        return None
    _clear_partials(folder)
    out = folder / archive_name(now)
    await take_backup(mongo, out, now=now)
    for _, old in scheduled_archives(folder)[keep:]:
        old.unlink(missing_ok=True)
    return out
