"""`jifen backup [--out FILE] [--include-keys]` and `jifen restore FILE [--mongodb-url URL]
[--replace]` (app/backup), with a progress bar on stderr. Exit status: 0 done (and, for a restore,
the books verify), 1 restored but the ledger check found drift, 2 refused with nothing written."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from app.clock import SystemClock
from app.config import Settings, data_folder_database

if TYPE_CHECKING:
    from app.backup import Manifest, Restored
    from app.cli.progress import Draw
    from app.db import Mongo

    OpenDatabase = Callable[..., AbstractAsyncContextManager[Mongo]]


def add_backup_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], open_database: OpenDatabase
) -> None:
    backup = commands.add_parser(
        "backup", help="write one consistent archive of the whole database (docs/operations.md)"
    )
    backup.add_argument(
        "--out",
        type=Path,
        help="the archive to write (default: jifen-<instant>.jifen-backup.gz here)",
    )
    backup.add_argument(
        "--include-keys",
        action="store_true",
        help="also archive the data folder's signing keys (anyone with the file can mint tokens)",
    )
    backup.set_defaults(run=lambda settings, args: _backup(open_database, settings, args))

    restore = commands.add_parser(
        "restore", help="restore an archive into an empty database, then verify the ledger"
    )
    restore.add_argument("archive", type=Path, help="a file `jifen backup` wrote")
    restore.add_argument(
        "--mongodb-url", help="restore into this MongoDB (default: the configured database)"
    )
    restore.add_argument(
        "--replace",
        action="store_true",
        help="drop everything in the target database first (also finishes a restore cut off)",
    )
    restore.set_defaults(run=lambda settings, args: _restore(open_database, settings, args))


def _backup(open_database: OpenDatabase, settings: Settings, args: argparse.Namespace) -> int:
    from app.backup import archive_name, take_backup
    from app.cli.progress import progress_bar

    now = SystemClock().now()
    out: Path = args.out or Path(archive_name(now))
    keys = settings.data_dir / "keys" if args.include_keys else None

    async def run(draw: Draw) -> Manifest:
        async with open_database(settings) as mongo:
            return await take_backup(mongo, out, now=now, keys_dir=keys, progress=draw)

    with progress_bar(sys.stderr) as draw:
        manifest = asyncio.run(run(draw))
    size = out.stat().st_size
    print(
        f"{out}: {manifest.documents} documents in {len(manifest.collections)} collections, "
        f"{size / 1e6:.1f} MB, schema {manifest.schema_version}, taken {manifest.created_at:%Y-%m-%dT%H:%M:%SZ}"
        f"{', with signing keys' if manifest.keys else ''}"
    )
    return 0


def _restore(open_database: OpenDatabase, settings: Settings, args: argparse.Namespace) -> int:
    from app.backup import ArchiveRefused, RestoreRefused, restore_archive
    from app.cli.progress import progress_bar

    if args.mongodb_url:
        settings = settings.model_copy(update={"mongodb_url": args.mongodb_url})
    if settings.mongodb_url is None and data_folder_database(settings).running_url():
        # A running serve would go on writing beside the restore, and answer from both.
        print(
            f"restore refused: a running `jifen serve` uses the embedded database in "
            f"{settings.data_dir}: stop it first; nothing was written",
            file=sys.stderr,
        )
        return 2

    async def run(draw: Draw) -> Restored:
        async with open_database(settings, prepare=False) as mongo:
            return await restore_archive(
                mongo,
                args.archive,
                now=SystemClock().now(),
                replace=args.replace,
                keys_dir=settings.data_dir / "keys",
                progress=draw,
            )

    try:
        with progress_bar(sys.stderr) as draw:
            restored = asyncio.run(run(draw))
    except (ArchiveRefused, RestoreRefused) as exc:
        print(f"restore refused: {exc}", file=sys.stderr)
        return 2
    manifest = restored.manifest
    print(
        f"restored {manifest.documents} documents in {len(manifest.collections)} collections "
        f"(taken {manifest.created_at:%Y-%m-%dT%H:%M:%SZ}); indexes rebuilt"
        f"{'; signing keys written to the data folder' if manifest.keys else ''}"
    )
    for drift in restored.drifts:
        print(drift)
    if restored.drifts:
        print(f"ledger verify: {len(restored.drifts)} drift(s)")
        return 1
    print("ledger verify: no drift: every balance matches the ledger")
    return 0
