"""The backup file: one gzip stream of framed BSON, read and written here and nowhere else.

After the magic bytes come frames, each a tag byte, a 4-byte little-endian length and a payload:

    C  a collection begins: {name}
    B  a batch of its documents, their raw BSON back to back (never decoded on either side)
    E  the collection ends: {name, count, sha256}
    K  a key file of the data folder: {name, data} (only with --include-keys)
    M  the manifest, last: format and schema version, when, how the snapshot was taken, and per
       collection its count, bytes, sha256 of its documents' bytes, options and index definitions

The manifest comes last because its counts and checksums are known only once every document
is written; a reader therefore verifies a whole archive (`verify_archive`) before anything is
restored from it. A truncated file fails gzip's own check or lacks the manifest; an altered one
fails gzip's CRC or a collection's sha256; a foreign one lacks the magic.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import bson
from bson.raw_bson import RawBSONDocument

MAGIC = b"JIFEN-BACKUP\x00"
FORMAT_VERSION = 1
SUFFIX = ".jifen-backup.gz"
_FRAME = struct.Struct("<cI")
MAX_FRAME_BYTES = 64 * 1024 * 1024  # a batch is a few MB; anything larger is not ours
BATCH_BYTES = 1024 * 1024


class ArchiveRefused(Exception):
    """The file is not a whole, unaltered Jifen backup this version can restore; nothing was written."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}; nothing was written")
        self.path = path
        self.reason = reason


@dataclass
class CollectionPart:
    """One collection as the manifest lists it."""

    name: str
    count: int = 0
    bytes: int = 0
    sha256: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    indexes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Manifest:
    format_version: int
    schema_version: int
    app_version: str
    created_at: Any  # an aware datetime
    consistency: str  # how the snapshot was taken (docs/operations.md)
    collections: list[CollectionPart]
    keys: list[str]

    def as_document(self) -> dict[str, Any]:
        return {
            "format": "jifen-backup",
            "format_version": self.format_version,
            "schema_version": self.schema_version,
            "app_version": self.app_version,
            "created_at": self.created_at,
            "consistency": self.consistency,
            "collections": [vars(part) for part in self.collections],
            "keys": self.keys,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Manifest:
        return cls(
            format_version=int(document["format_version"]),
            schema_version=int(document["schema_version"]),
            app_version=str(document["app_version"]),
            created_at=document["created_at"],
            consistency=str(document["consistency"]),
            collections=[CollectionPart(**part) for part in document["collections"]],
            keys=list(document["keys"]),
        )

    @property
    def documents(self) -> int:
        return sum(part.count for part in self.collections)


_CODEC: bson.CodecOptions[dict[str, Any]] = bson.CodecOptions(tz_aware=True)
_RAW: bson.CodecOptions[RawBSONDocument] = bson.CodecOptions(
    document_class=RawBSONDocument, tz_aware=True
)


def _encode(document: dict[str, Any]) -> bytes:
    return bson.encode(document)


def create_private(path: Path) -> IO[bytes]:
    """A new file only its owner may read (0600 from the start: never a moment with wider bits)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file left by an earlier run keeps its mode through O_TRUNC
    return os.fdopen(fd, "wb")


class ArchiveWriter:
    """Writes frames into a gzip stream; `collection` opens a collection's part."""

    def __init__(self, out: IO[bytes], compresslevel: int = 1) -> None:
        # Level 1: the archive is written under load and restored in a hurry; the documents'
        # repeated field names compress well at any level.
        self._gzip = gzip.GzipFile(fileobj=out, mode="wb", compresslevel=compresslevel, mtime=0)
        self._gzip.write(MAGIC)
        self.raw_bytes = 0

    def _frame(self, tag: bytes, payload: bytes) -> None:
        self._gzip.write(_FRAME.pack(tag, len(payload)))
        self._gzip.write(payload)
        self.raw_bytes += len(payload)

    def begin(self, name: str) -> None:
        self._frame(b"C", _encode({"name": name}))

    def batch(self, raw_documents: bytes) -> None:
        self._frame(b"B", raw_documents)

    def end(self, part: CollectionPart) -> None:
        self._frame(b"E", _encode({"name": part.name, "count": part.count, "sha256": part.sha256}))

    def key(self, name: str, data: bytes) -> None:
        self._frame(b"K", _encode({"name": name, "data": data}))

    def finish(self, manifest: Manifest) -> None:
        self._frame(b"M", _encode(manifest.as_document()))
        self._gzip.close()


@dataclass
class Batch:
    collection: str
    documents: list[RawBSONDocument]


@dataclass
class KeyFile:
    name: str
    data: bytes


Item = Batch | KeyFile


def _frames(path: Path) -> Iterator[tuple[bytes, bytes]]:
    try:
        with gzip.open(path, "rb") as stream:
            if stream.read(len(MAGIC)) != MAGIC:
                raise ArchiveRefused(path, "not a Jifen backup (no Jifen backup header)")
            while True:
                head = stream.read(_FRAME.size)
                if not head:
                    return
                if len(head) < _FRAME.size:
                    raise ArchiveRefused(path, "the archive is truncated")
                tag, length = _FRAME.unpack(head)
                if length > MAX_FRAME_BYTES:
                    raise ArchiveRefused(path, "the archive is damaged (a frame is too large)")
                payload = stream.read(length)
                if len(payload) < length:
                    raise ArchiveRefused(path, "the archive is truncated")
                yield tag, payload
    except gzip.BadGzipFile as exc:
        # The header is checked first; past it, a bad CRC or length is damage, not another format
        # (a flipped bit mid-stream can decompress to wrong bytes that only the CRC catches).
        if str(exc).startswith("Not a gzipped file"):
            raise ArchiveRefused(path, "not a Jifen backup (not a gzip file)") from None
        raise ArchiveRefused(path, f"the archive is damaged ({exc})") from None
    except EOFError:
        raise ArchiveRefused(path, "the archive is truncated") from None
    except zlib.error:
        raise ArchiveRefused(
            path, "the archive is damaged (its compressed data is corrupt)"
        ) from None
    except FileNotFoundError:
        raise ArchiveRefused(path, "no such file") from None


def _document(path: Path, payload: bytes) -> dict[str, Any]:
    try:
        document: dict[str, Any] = bson.decode(payload, _CODEC)
    except (bson.errors.BSONError, ValueError) as exc:
        raise ArchiveRefused(path, f"the archive is damaged ({exc})") from None
    return document


def _raw_documents(path: Path, payload: bytes) -> list[RawBSONDocument]:
    try:
        documents: list[RawBSONDocument] = bson.decode_all(payload, _RAW)
    except (bson.errors.BSONError, ValueError) as exc:
        raise ArchiveRefused(path, f"the archive is damaged ({exc})") from None
    return documents


def read_archive(path: Path, *, newest_schema: int) -> Iterator[Item | Manifest]:
    """Every batch and key file in the archive, checked as it goes, then its manifest.

    Raises ArchiveRefused as soon as the archive proves wrong; the manifest is yielded only
    once every part matched it. A restore therefore reads the archive twice: once to the
    manifest (verify_archive), then again to write.
    """
    current: str | None = None
    digest = hashlib.sha256()
    count = size = 0
    seen: dict[str, tuple[int, int, str]] = {}
    keys: list[str] = []
    manifest: dict[str, Any] | None = None
    for tag, payload in _frames(path):  # to the end of the stream: gzip checks its CRC there
        if manifest is not None:
            raise ArchiveRefused(path, "the archive is damaged (data after its manifest)")
        if tag == b"C":
            if current is not None:
                raise ArchiveRefused(path, f"the archive is damaged ({current} never ends)")
            current = str(_document(path, payload)["name"])
            digest, count, size = hashlib.sha256(), 0, 0
        elif tag == b"B":
            if current is None:
                raise ArchiveRefused(
                    path, "the archive is damaged (documents outside a collection)"
                )
            digest.update(payload)
            documents = _raw_documents(path, payload)
            count += len(documents)
            size += len(payload)
            yield Batch(current, documents)
        elif tag == b"E":
            end = _document(path, payload)
            if current is None or end.get("name") != current:
                raise ArchiveRefused(path, "the archive is damaged (a collection ends unopened)")
            if end.get("count") != count or end.get("sha256") != digest.hexdigest():
                raise ArchiveRefused(path, f"collection {current} does not match its checksum")
            seen[current] = (count, size, digest.hexdigest())
            current = None
        elif tag == b"K":
            key = _document(path, payload)
            name = str(key["name"])
            if Path(name).name != name or name.startswith("."):  # restored into keys/, only there
                raise ArchiveRefused(path, f"the archive is damaged (key file name {name!r})")
            keys.append(name)
            yield KeyFile(name, bytes(key["data"]))
        elif tag == b"M" and manifest is None and current is None:
            manifest = _document(path, payload)
        else:
            raise ArchiveRefused(path, f"the archive is damaged (unexpected frame {tag!r})")
    if manifest is None:
        raise ArchiveRefused(path, "the archive is truncated (it has no manifest)")
    yield _check_manifest(path, manifest, seen, keys, newest_schema)


def _check_manifest(
    path: Path,
    document: dict[str, Any],
    seen: dict[str, tuple[int, int, str]],
    keys: list[str],
    newest_schema: int,
) -> Manifest:
    if document.get("format") != "jifen-backup":
        raise ArchiveRefused(path, "not a Jifen backup (its manifest is foreign)")
    if document.get("format_version") != FORMAT_VERSION:
        raise ArchiveRefused(
            path,
            f"archive format {document.get('format_version')} is not the format this version "
            f"reads ({FORMAT_VERSION})",
        )
    try:
        manifest = Manifest.from_document(document)
    except (KeyError, TypeError, ValueError) as exc:
        raise ArchiveRefused(path, f"the archive's manifest is damaged ({exc})") from None
    if manifest.schema_version > newest_schema:
        raise ArchiveRefused(
            path,
            f"the archive holds books of schema {manifest.schema_version}, newer than this "
            f"version's {newest_schema}: restore it with a newer Jifen",
        )
    listed = {part.name: (part.count, part.bytes, part.sha256) for part in manifest.collections}
    if listed != seen:
        raise ArchiveRefused(
            path, "the collections do not match the manifest's counts and checksums"
        )
    if sorted(manifest.keys) != sorted(keys):
        raise ArchiveRefused(path, "the key files do not match the manifest")
    return manifest


def verify_archive(path: Path, *, newest_schema: int) -> Manifest:
    """Read the whole archive and return its manifest, or raise ArchiveRefused."""
    for item in read_archive(path, newest_schema=newest_schema):
        if isinstance(item, Manifest):
            return item
    raise AssertionError("read_archive ends with the manifest or raises")  # pragma: no cover
