"""Taking a backup: every collection read at one point in time, written as one archive.

SecantusDB (0.7) accepts a snapshot session and `readConcern: {level: snapshot, atClusterTime}`
outside a transaction but does not honour them: such reads see writes committed after the
cluster time they name (tried; see docs/operations.md). What it does honour is a multi-document
transaction's snapshot: every read of one transaction sees the database as it was when the
transaction began, whatever commits meanwhile. So the backup reads every collection inside one
read-only transaction, never committed. Every points movement is one transaction too, so an
entry and the balance it moved are both in the archive or both not; `ledger verify` passes on
the restored books. SecantusDB reaps a transaction only after 60 s *idle*, not 60 s old, and a
backup reads continuously. MongoDB limits a transaction's whole life
(transactionLifetimeLimitSeconds, 60 s by default): there, use mongodump (docs/operations.md).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any, cast

import bson
from bson.raw_bson import RawBSONDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.read_concern import ReadConcern
from pymongo.read_preferences import ReadPreference

from app.backup.archive import (
    BATCH_BYTES,
    FORMAT_VERSION,
    ArchiveWriter,
    CollectionPart,
    Manifest,
    create_private,
)
from app.db import Mongo
from app.ledger import LEDGER_SHAPE

Progress = Callable[[int, int, str], None]
CONSISTENCY = "one read-only snapshot transaction"
_RAW: bson.CodecOptions[RawBSONDocument] = bson.CodecOptions(
    document_class=RawBSONDocument, tz_aware=True
)
_INDEX_FIELDS_DROPPED = ("v", "ns")


async def collection_plan(mongo: Mongo) -> list[CollectionPart]:
    """Every collection with its options and index definitions (read before the snapshot: a
    transaction may not list them; an index is a definition, not data, and `ensure_indexes`
    re-creates the product's own on restore whatever happened in between)."""
    parts = []
    async for info in await mongo.db.list_collections():
        name = info["name"]
        if name.startswith("system.") or info.get("type", "collection") != "collection":
            continue
        indexes = [
            {key: value for key, value in index.items() if key not in _INDEX_FIELDS_DROPPED}
            async for index in await mongo[name].list_indexes()
            if index["name"] != "_id_"
        ]
        parts.append(CollectionPart(name, options=dict(info.get("options", {})), indexes=indexes))
    return sorted(parts, key=lambda part: part.name)


async def take_backup(
    mongo: Mongo,
    out: Path,
    *,
    now: datetime,
    keys_dir: Path | None = None,
    progress: Progress | None = None,
) -> Manifest:
    """Write the whole database to `out` (mode 0600), keys of `keys_dir` too if given.

    The archive is written beside `out` under a `.partial` name and renamed into place once
    complete, so a backup cut off half-way never looks like one.
    """
    parts = await collection_plan(mongo)
    total = sum([await mongo[part.name].estimated_document_count() for part in parts])
    partial = out.with_name(out.name + ".partial")
    try:
        with create_private(partial) as file:
            writer = ArchiveWriter(file)
            await _write_snapshot(mongo, writer, parts, total, progress)
            keys = _write_keys(writer, keys_dir)
            manifest = Manifest(
                format_version=FORMAT_VERSION,
                schema_version=LEDGER_SHAPE,
                app_version=version("jifen"),
                created_at=now,
                consistency=CONSISTENCY,
                collections=parts,
                keys=keys,
            )
            writer.finish(manifest)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return manifest


async def _write_snapshot(
    mongo: Mongo,
    writer: ArchiveWriter,
    parts: list[CollectionPart],
    total: int,
    progress: Progress | None,
) -> None:
    done = 0
    async with mongo.client.start_session() as session:
        await session.start_transaction(
            read_concern=ReadConcern("snapshot"), read_preference=ReadPreference.PRIMARY
        )
        try:
            for part in parts:
                writer.begin(part.name)
                digest = hashlib.sha256()
                batch: list[bytes] = []
                size = 0
                collection = cast(
                    AsyncCollection[RawBSONDocument],
                    mongo.db.get_collection(part.name, codec_options=_RAW),
                )
                async for document in collection.find({}, session=session, batch_size=2000):
                    raw = cast(bytes, document.raw)
                    batch.append(raw)
                    size += len(raw)
                    if size >= BATCH_BYTES:
                        done += _flush(writer, part, digest, batch)
                        batch, size = [], 0
                        if progress is not None:
                            progress(done, max(total, done), part.name)
                done += _flush(writer, part, digest, batch)
                part.sha256 = digest.hexdigest()
                writer.end(part)
                if progress is not None:
                    progress(done, max(total, done), part.name)
        finally:
            await session.abort_transaction()  # read-only: nothing to commit
    if progress is not None:
        progress(done, done, "done")


def _flush(writer: ArchiveWriter, part: CollectionPart, digest: Any, batch: list[bytes]) -> int:
    if not batch:
        return 0
    payload = b"".join(batch)
    writer.batch(payload)
    digest.update(payload)
    part.count += len(batch)
    part.bytes += len(payload)
    return len(batch)


def _write_keys(writer: ArchiveWriter, keys_dir: Path | None) -> list[str]:
    if keys_dir is None or not keys_dir.is_dir():
        return []
    names = []
    for path in sorted(keys_dir.iterdir()):
        if path.is_file() and not path.name.endswith(".tmp"):
            writer.key(path.name, path.read_bytes())
            names.append(path.name)
    return names
