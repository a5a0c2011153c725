"""Backup and restore (数据备份): one consistent archive of the whole database, restored into any
MongoDB. The file format is in archive.py, how a consistent snapshot is read in snapshot.py,
the restore in restore.py, the worker's scheduled backups in scheduled.py; docs/operations.md
says how to use them."""

from app.backup.archive import SUFFIX, ArchiveRefused, Manifest, verify_archive
from app.backup.restore import (
    RESTORE_MARKER,
    DatabaseNotEmpty,
    KeysDiffer,
    Restored,
    RestoreRefused,
    restore_archive,
)
from app.backup.scheduled import archive_name, scheduled_archives, take_scheduled_backup
from app.backup.snapshot import CONSISTENCY, take_backup

__all__ = [
    "CONSISTENCY",
    "RESTORE_MARKER",
    "SUFFIX",
    "ArchiveRefused",
    "DatabaseNotEmpty",
    "KeysDiffer",
    "Manifest",
    "RestoreRefused",
    "Restored",
    "restore_archive",
    "scheduled_archives",
    "take_backup",
    "take_scheduled_backup",
    "verify_archive",
    "archive_name",
]
