"""An archive that is not whole, not unaltered or not ours is refused before anything is written;
so is a database that is not empty, unless the restore is told to replace it."""

from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path

import pytest

from app.backup import ArchiveRefused, DatabaseNotEmpty, restore_archive, take_backup
from app.backup.archive import MAGIC
from app.clock import FrozenClock
from app.db import Mongo
from app.ledger import OpeningEarn, open_books


@pytest.fixture
async def archive(mongo: Mongo, clock: FrozenClock, tmp_path: Path) -> Path:
    books = {f"m{n}": [OpeningEarn(100 + n, clock.now())] for n in range(20)}
    await open_books(mongo, books, clock.now())
    path = tmp_path / "good.jifen-backup.gz"
    await take_backup(mongo, path, now=clock.now())
    return path


def _altered(archive: Path, out: Path) -> Path:
    """The same archive with one byte of one document changed, properly recompressed: only the
    collection's sha256 can tell."""
    raw = bytearray(gzip.decompress(archive.read_bytes()))
    at = raw.index(b"m7")  # a member id inside a document
    raw[at + 1] = ord("9")
    out.write_bytes(gzip.compress(bytes(raw)))
    return out


def _flipped(archive: Path, out: Path) -> Path:
    """One bit flipped in the compressed stream (a disk or a copy gone bad), from the middle on at
    the first place where it damages what the archive holds: a flip can also leave a valid stream
    that inflates to the very same bytes (a match's distance pointing at an identical run), an
    archive that is not damaged at all."""
    good = archive.read_bytes()
    content = gzip.decompress(good)
    for at in range(len(good) // 2, len(good)):
        raw = bytearray(good)
        raw[at] ^= 0x10
        try:
            same = gzip.decompress(bytes(raw)) == content
        except (OSError, EOFError, zlib.error):
            same = False
        if not same:
            out.write_bytes(bytes(raw))
            return out
    raise AssertionError("no bit flip damaged the archive")


def _bad_crc(archive: Path, out: Path) -> Path:
    """The data inflates, but not to what was written: only gzip's CRC at the end can tell."""
    raw = bytearray(archive.read_bytes())
    raw[-8] ^= 0x01  # the trailer: CRC-32, then the length
    out.write_bytes(bytes(raw))
    return out


def _truncated(archive: Path, out: Path) -> Path:
    out.write_bytes(archive.read_bytes()[: archive.stat().st_size * 2 // 3])
    return out


def _no_manifest(archive: Path, out: Path) -> Path:
    """Cut cleanly before the manifest and recompressed: a whole gzip file, an incomplete backup."""
    raw = gzip.decompress(archive.read_bytes())
    at = len(MAGIC)
    while raw[at : at + 1] != b"M":  # frames: tag, 4-byte length, payload
        at += 5 + int.from_bytes(raw[at + 1 : at + 5], "little")
    out.write_bytes(gzip.compress(raw[:at]))
    return out


def _foreign_gzip(archive: Path, out: Path) -> Path:
    out.write_bytes(gzip.compress(b"name,phone\nLi Lei,13800138000\n"))
    return out


def _foreign_bytes(archive: Path, out: Path) -> Path:
    out.write_bytes(b"%PDF-1.7 not a backup at all")
    return out


def _other_format(archive: Path, out: Path) -> Path:
    raw = gzip.decompress(archive.read_bytes())
    out.write_bytes(
        gzip.compress(raw.replace(b"format_version\x00\x01", b"format_version\x00\x02"))
    )
    return out


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_altered, "does not match its checksum"),
        (_flipped, "damaged|checksum"),  # whichever the bad bytes reach first
        (_bad_crc, r"damaged \(CRC check failed"),
        (_truncated, "truncated"),
        (_no_manifest, "no manifest"),
        (_foreign_gzip, "not a Jifen backup"),
        (_foreign_bytes, r"not a Jifen backup \(not a gzip file\)"),
    ],
)
async def test_a_truncated_altered_or_foreign_archive_is_refused_with_nothing_written(
    archive: Path, target: Mongo, clock: FrozenClock, tmp_path: Path, damage, reason: str
) -> None:
    bad = damage(archive, tmp_path / "bad.jifen-backup.gz")
    with pytest.raises(ArchiveRefused) as refused:
        await restore_archive(target, bad, now=clock.now())
    assert re.search(reason, str(refused.value)), refused.value
    assert str(refused.value).endswith("nothing was written")
    assert await target.db.list_collection_names() == []


async def test_an_archive_of_another_format_version_is_refused(
    archive: Path, target: Mongo, clock: FrozenClock, tmp_path: Path
) -> None:
    bad = _other_format(archive, tmp_path / "v2.jifen-backup.gz")
    with pytest.raises(ArchiveRefused, match="archive format 2 is not the format"):
        await restore_archive(target, bad, now=clock.now())
    assert await target.db.list_collection_names() == []


async def test_a_database_with_documents_is_refused_unless_replaced(
    archive: Path, target: Mongo, clock: FrozenClock
) -> None:
    await target["members"].insert_one({"_id": "someone", "name": "Already here"})
    with pytest.raises(DatabaseNotEmpty, match="members has documents"):
        await restore_archive(target, archive, now=clock.now())
    assert await target["members"].count_documents({}) == 1
    restored = await restore_archive(target, archive, now=clock.now(), replace=True)
    assert restored.drifts == []
    assert await target["members"].find_one({"_id": "someone"}) is None
    assert await target["accounts"].count_documents({}) == 20
