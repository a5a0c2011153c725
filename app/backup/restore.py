"""Restoring an archive into an empty database (any MongoDB), then checking the books.

The whole archive is verified before the first write. The restore then marks the database
(`meta` `restore_in_progress`), creates every collection with the archive's index definitions,
writes the documents, ensures the product's own indexes (an archive of an earlier version gets
today's), brings older books to today's shape, and removes the mark. A restore cut off half-way leaves the mark:
the database is not empty, so a plain restore refuses it and says so, and `--replace` drops
what is there and starts again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from app.backup.archive import (
    Batch,
    KeyFile,
    Manifest,
    create_private,
    read_archive,
    verify_archive,
)
from app.db import Mongo, ensure_indexes
from app.ledger import LEDGER_SHAPE, Drift, verify_balances
from app.members import upgrade_database

Progress = Callable[[int, int, str], None]
RESTORE_MARKER = "restore_in_progress"


class RestoreRefused(Exception):
    """The target is not one a restore may write into; nothing was written."""


class DatabaseNotEmpty(RestoreRefused):
    def __init__(self, db_name: str, collection: str, cut_off: bool) -> None:
        if cut_off:
            message = (
                f"database {db_name} holds a restore that was cut off half-way: "
                "run the restore again with --replace to finish it"
            )
        else:
            message = (
                f"database {db_name} is not empty ({collection} has documents): restore into "
                "an empty database, or pass --replace to drop everything in it first"
            )
        super().__init__(message)
        self.collection = collection
        self.cut_off = cut_off


class KeysDiffer(RestoreRefused):
    def __init__(self, name: str, folder: Path) -> None:
        super().__init__(
            f"{folder / name} exists and differs from the archive's key: pass --replace to "
            "overwrite it (tokens signed by the key there stop verifying)"
        )


@dataclass(frozen=True)
class Restored:
    manifest: Manifest
    drifts: list[Drift]


async def occupant(mongo: Mongo) -> tuple[str, bool] | None:
    """A collection that has documents, and whether a restore was cut off; None when empty."""
    if await mongo["meta"].find_one({"_id": RESTORE_MARKER}) is not None:
        return "meta", True
    for name in sorted(await mongo.db.list_collection_names()):
        if not name.startswith("system.") and await mongo[name].find_one({}, {"_id": 1}):
            return name, False
    return None


async def restore_archive(
    mongo: Mongo,
    path: Path,
    *,
    now: datetime,
    replace: bool = False,
    keys_dir: Path | None = None,
    progress: Progress | None = None,
) -> Restored:
    """Verify `path`, restore it into `mongo`'s database, and check the books.

    Raises ArchiveRefused (the file) or RestoreRefused (the target) before writing anything.
    """
    manifest = await asyncio.to_thread(verify_archive, path, newest_schema=LEDGER_SHAPE)
    if not replace:
        found = await occupant(mongo)
        if found is not None:
            raise DatabaseNotEmpty(mongo.db.name, *found)
        if keys_dir is not None and manifest.keys:
            _check_keys(path, manifest, keys_dir)
    await mongo.client.drop_database(mongo.db.name)
    await mongo["meta"].insert_one({"_id": RESTORE_MARKER, "archive": str(path), "begun_at": now})
    # Indexes before documents: SecantusDB builds an index over existing documents four to five
    # times slower than it maintains one while they are inserted (bench/backup.py).
    for part in manifest.collections:
        if part.name != "meta":
            await mongo.db.create_collection(part.name, **part.options)
        if part.indexes:
            await mongo.db.command({"createIndexes": part.name, "indexes": part.indexes})
    done = 0
    for item in read_archive(path, newest_schema=LEDGER_SHAPE):
        if isinstance(item, Batch):
            await mongo[item.collection].insert_many(item.documents, ordered=True)
            done += len(item.documents)
            if progress is not None:
                progress(done, manifest.documents, item.collection)
        elif isinstance(item, KeyFile) and keys_dir is not None:
            _write_key(keys_dir, item)
    await ensure_indexes(mongo)
    await upgrade_database(mongo, now)  # an archive an older version wrote
    await mongo["meta"].delete_one({"_id": RESTORE_MARKER})
    return Restored(manifest, await verify_balances(mongo))


def _check_keys(path: Path, manifest: Manifest, keys_dir: Path) -> None:
    for item in read_archive(path, newest_schema=LEDGER_SHAPE):
        if isinstance(item, KeyFile):
            there = keys_dir / item.name
            if there.exists() and there.read_bytes() != item.data:
                raise KeysDiffer(item.name, keys_dir)


def _write_key(keys_dir: Path, key: KeyFile) -> None:
    keys_dir.mkdir(parents=True, exist_ok=True)
    with create_private(keys_dir / key.name) as out:
        out.write(key.data)
