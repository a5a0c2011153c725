"""Reading and storing the program configuration: one current document, every older version kept.

The `program` collection holds `current` (the version in force) and `v<N>` for each version it
replaced, so version N is read by one `_id` lookup among {"v<N>", "current"}. Every change is a
new version stamped with who made it (`updated_by`: "cli:<user>", "admin:<subject>"), when, and an
optional note; a configuration identical to the current one makes no version ("no change").

Concurrency: a change runs in one transaction that replaces `current` on the version it read
and archives that version under its number, so two concurrent changes conflict on `current`,
the runner retries the loser from a fresh read and both land, numbered one apart.

Idempotency: a change made under a client's key stores its result as `request:<by>:<key>` in the
same transaction; a replay returns that first result, another request under the key is refused.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from app.audit import record_audit
from app.bounds import MAX_KEY_LENGTH, KeyOutOfBounds
from app.clock import Clock
from app.db import Document, Mongo
from app.program.diff import Change, config_of, diff_programs
from app.program.models import Program
from app.program.validation import FieldError, ProgramInvalid

CURRENT_ID = "current"
MAX_NOTE_LENGTH = 500
STAMP_PROJECTION = {"version": 1, "updated_at": 1, "updated_by": 1, "note": 1}


class ProgramNotConfigured(Exception):
    """No program has been stored yet."""


class ProgramVersionNotFound(Exception):
    """No program version has this number."""

    def __init__(self, version: int) -> None:
        super().__init__(f"no program version {version}")
        self.version = version


class NoteTooLong(Exception):
    """A change's note is longer than MAX_NOTE_LENGTH."""


MAX_NOTE_LENGTH = 500


def check_change(idempotency_key: str, note: str | None) -> None:
    """A change's own request, before its configuration is read: KeyOutOfBounds, NoteTooLong."""
    if not idempotency_key.strip() or len(idempotency_key) > MAX_KEY_LENGTH:
        message = f"the idempotency key must have 1 to {MAX_KEY_LENGTH} characters"
        raise KeyOutOfBounds(message)
    if note is not None and len(note) > MAX_NOTE_LENGTH:
        raise NoteTooLong(f"String should have at most {MAX_NOTE_LENGTH} characters")


class ProgramRequestConflict(Exception):
    """An idempotency key already used for a different change."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the key {key!r} was used for a different change")
        self.key = key


@dataclass(frozen=True, slots=True)
class VersionStamp:
    version: int
    updated_at: datetime | None
    updated_by: str | None
    note: str | None

    @classmethod
    def of(cls, document: Document) -> VersionStamp:
        return cls(
            version=int(document["version"]),
            updated_at=document.get("updated_at"),
            updated_by=document.get("updated_by"),
            note=document.get("note"),
        )


@dataclass(frozen=True, slots=True)
class Applied:
    """The outcome of a change: the version in force after it and what it changed (nothing: no
    new version). A dry run's stamp is the version it would make."""

    stamp: VersionStamp
    changes: tuple[Change, ...]

    @property
    def changed(self) -> bool:
        return bool(self.changes)


PROGRAM_CACHE_SECONDS = 2.0


async def current_program(mongo: Mongo) -> Program:
    """The program in force, as the hot paths (purchases, check-in, redemption, requests) read it:
    from this process's copy when younger than PROGRAM_CACHE_SECONDS, so a purchase does not pay
    a database command for a document that changes a few times a year. A change made in this
    process is seen at once; one made elsewhere (the CLI, another API process) within that age.
    Points stay explainable either way: every breakdown row and lot names the version used."""
    cached = mongo.cache.get("program")
    if cached is not None and time.monotonic() - cached[0] < PROGRAM_CACHE_SECONDS:
        program: Program = cached[1]
        return program
    program = await get_program(mongo)
    mongo.cache["program"] = (time.monotonic(), program)
    return program


def forget_program(mongo: Mongo) -> None:
    mongo.cache.pop("program", None)


async def get_program(mongo: Mongo, version: int | None = None) -> Program:
    """The program in force, or version `version` (ProgramVersionNotFound)."""
    if version is None:
        document = await mongo["program"].find_one({"_id": CURRENT_ID})
        if document is None:
            raise ProgramNotConfigured("no program is configured")
        return _program(document)
    if version < 1:
        raise ProgramVersionNotFound(version)
    ids = [f"v{version}", CURRENT_ID]
    async for document in mongo["program"].find({"_id": {"$in": ids}}):
        if document.get("version") == version:
            return _program(document)
    raise ProgramVersionNotFound(version)


async def list_versions(
    mongo: Mongo, *, first: int, before: int | None = None
) -> tuple[list[VersionStamp], bool]:
    """Up to `first` versions, newest first, older than `before` if given; and whether more follow."""
    current = await mongo["program"].find_one({"_id": CURRENT_ID}, STAMP_PROJECTION)
    if current is None:
        return [], False
    top = int(current["version"]) if before is None else min(before - 1, int(current["version"]))
    wanted = list(range(top, max(top - first, 0), -1))
    found = {int(current["version"]): VersionStamp.of(current)}
    if wanted:
        ids = [f"v{number}" for number in wanted]
        async for document in mongo["program"].find({"_id": {"$in": ids}}, STAMP_PROJECTION):
            found[int(document["version"])] = VersionStamp.of(document)
    stamps = [found[number] for number in wanted if number in found]
    return stamps, bool(wanted) and wanted[-1] > 1


async def preview_program(mongo: Mongo, program: Program) -> Applied:
    """What applying `program` would change, writing nothing (a dry run)."""
    document = await mongo["program"].find_one({"_id": CURRENT_ID})
    current = None if document is None else _program(document)
    changes = tuple(diff_programs(current, program))
    if document is not None and not changes:
        return Applied(VersionStamp.of(document), ())
    next_version = 1 if current is None else current.version + 1
    return Applied(VersionStamp(next_version, None, None, None), changes)


async def apply_program(
    mongo: Mongo,
    clock: Clock,
    program: Program,
    *,
    updated_by: str,
    note: str | None = None,
    idempotency_key: str | None = None,
    audited: bool = True,
) -> Applied:
    """Make `program` the version in force, as a new version (none if nothing changed).

    With `idempotency_key`, a replay returns the first result (ProgramRequestConflict if the key
    was used for another change). A new version is audited as program.update by `updated_by`
    in the same transaction (`audited=False`: seeds and fixtures)."""
    if note is not None and len(note) > MAX_NOTE_LENGTH:
        message = f"String should have at most {MAX_NOTE_LENGTH} characters"
        raise ProgramInvalid([FieldError(("note",), message)])
    request_id = None if idempotency_key is None else f"request:{updated_by}:{idempotency_key}"
    request_hash = _request_hash(program, note)

    async def work(session: AsyncClientSession) -> Applied:
        if request_id is not None:
            prior = await mongo["program"].find_one({"_id": request_id}, session=session)
            if prior is not None:
                return _replay(prior, request_hash, idempotency_key or "")
        document = await mongo["program"].find_one({"_id": CURRENT_ID}, session=session)
        current = None if document is None else _program(document)
        changes = tuple(diff_programs(current, program))
        if document is not None and not changes:
            applied = Applied(VersionStamp.of(document), ())
        else:
            stamp = VersionStamp(
                1 if current is None else current.version + 1, clock.now(), updated_by, note
            )
            await _store(mongo, session, document, program, stamp)
            applied = Applied(stamp, changes)
            if audited:
                await _audit(mongo, clock, session, current, applied)
        if request_id is not None:
            await mongo["program"].insert_one(
                _request_document(request_id, request_hash, applied), session=session
            )
        return applied

    try:
        return await mongo.transaction(work)
    except DuplicateKeyError:  # a concurrent request under the same key won: replay its result
        return await mongo.transaction(work)
    finally:
        forget_program(mongo)


async def _audit(
    mongo: Mongo,
    clock: Clock,
    session: AsyncClientSession,
    current: Program | None,
    applied: Applied,
) -> None:
    changed = [change.path for change in applied.changes][:200]
    await record_audit(
        mongo,
        clock,
        actor=applied.stamp.updated_by or "system",
        action="program.update",
        target="program",
        before=None if current is None else {"version": current.version},
        after={"version": applied.stamp.version, "changed": changed},
        note=applied.stamp.note,
        session=session,
    )


async def save_program(
    mongo: Mongo, clock: Clock, program: Program, *, updated_by: str = "system"
) -> Program:
    """Store `program` as a new version (none if nothing changed) and return it as stored."""
    applied = await apply_program(mongo, clock, program, updated_by=updated_by, audited=False)
    return _stamped(program, applied.stamp)


async def _store(
    mongo: Mongo,
    session: AsyncClientSession,
    current: Document | None,
    program: Program,
    stamp: VersionStamp,
) -> None:
    body = config_of(program)
    body.update(
        version=stamp.version,
        updated_at=stamp.updated_at,
        updated_by=stamp.updated_by,
        note=stamp.note,
    )
    collection = mongo["program"]
    if current is None:
        await collection.insert_one({"_id": CURRENT_ID, **body}, session=session)
        return
    # `current` first: a concurrent change conflicts here and is retried from a fresh read.
    await collection.replace_one(
        {"_id": CURRENT_ID, "version": current["version"]}, body, session=session
    )
    await collection.insert_one({**current, "_id": f"v{current['version']}"}, session=session)


def _program(document: Document) -> Program:
    body = {key: value for key, value in document.items() if key != "_id"}
    return Program.model_validate(body)


def _stamped(program: Program, stamp: VersionStamp) -> Program:
    return program.model_copy(
        update={
            "version": stamp.version,
            "updated_at": stamp.updated_at,
            "updated_by": stamp.updated_by,
            "note": stamp.note,
        }
    )


def _request_hash(program: Program, note: str | None) -> str:
    text = json.dumps([config_of(program), note], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _request_document(request_id: str, request_hash: str, applied: Applied) -> Document:
    stamp = applied.stamp
    return {
        "_id": request_id,
        "request_hash": request_hash,
        "version": stamp.version,
        "updated_at": stamp.updated_at,
        "updated_by": stamp.updated_by,
        "note": stamp.note,
        "changes": [[change.path, change.before, change.after] for change in applied.changes],
    }


def _replay(prior: Document, request_hash: str, key: str) -> Applied:
    if prior["request_hash"] != request_hash:
        raise ProgramRequestConflict(key)
    changes: list[Any] = prior["changes"]
    return Applied(VersionStamp.of(prior), tuple(Change(*change) for change in changes))
