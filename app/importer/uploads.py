"""Imports of uploaded files (`startImport`): stored with the job, run by the worker, watched live.

An operator's upload of members.csv and balances.csv is too big and too slow for one request (an
export of 100,000 members is ~15 MB and minutes of work), so the request only stores it: the
files in parts of PART_BYTES (`import_parts`, under the BSON document limit), then the job
(`import_jobs`), queued. The job document is written last: a job that exists has all its parts.
Its idempotency key makes a retried upload return the first job.

The worker takes the oldest queued job (or one whose runner stopped beating for STALE; a worker
that stops cleanly queues its job again at once), runs the same import as `jifen import`
(app.importer.run) and records its progress on the job at every chunk, then the summary and the
first refused rows. The import itself is resumable and imports each row once, so a job picked up
again after a crash finishes the rows the crash left; one import runs at a time (the CLI's too): a
job that finds another running waits in the queue. A job's end, done or failed, is logged as an
`import.finished` event (app/event_log.py) with its counts, in the transaction that records it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bson import Binary, ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError, PyMongoError

from app.audit import record_audit
from app.bounds import MAX_KEY_LENGTH
from app.clock import Clock
from app.csv_files import decode
from app.db import Document, Mongo, newest_by_id, purge_at, run_in_transaction
from app.event_log import append
from app.importer.rows import BALANCE_COLUMNS, MEMBER_COLUMNS, header_problem
from app.importer.run import LEASE, ImportRunning, import_files
from app.leases import held
from app.ledger import instant
from app.program import ProgramNotConfigured

log = logging.getLogger(__name__)

JOBS = "import_jobs"
PARTS = "import_parts"
PART_BYTES = 1024 * 1024
MAX_FILE_BYTES = 32 * 1024 * 1024  # per file: ~200,000 members, or ~400,000 balance rows
STALE = timedelta(minutes=2)  # a running job whose runner has not beaten for this long is re-run
KEEP_PARTS = timedelta(days=7)  # a job's files are deleted when it is done, or after this
REQUEUE_SECONDS = 1.0  # a job cut off by a clean stop is queued again within this, or left STALE
MAX_ATTEMPTS = 3  # runs that failed unexpectedly before the job is marked failed


class ImportJobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class InvalidUpload(ValueError):
    """A file that cannot be imported at all: not UTF-8, too big, without the columns."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class UploadConflict(ValueError):
    """The idempotency key was used for other files."""


@dataclass(frozen=True)
class UploadedFile:
    name: str
    content: bytes


@dataclass(frozen=True)
class ImportJob:
    id: str
    status: ImportJobStatus
    dry_run: bool
    actor: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    files: dict[str, Document]  # "members"/"balances": {name, bytes}
    total: int | None  # member rows to handle, once the files are read
    done: int
    failure: str | None
    summary: Document | None  # Summary.counts() when done
    errors: list[Document]  # Summary.shown_errors() when done

    @classmethod
    def from_document(cls, doc: Document) -> ImportJob:
        return cls(
            id=doc["_id"],
            status=ImportJobStatus(doc["status"]),
            dry_run=doc["dry_run"],
            actor=doc["actor"],
            created_at=doc["created_at"],
            started_at=doc.get("started_at"),
            finished_at=doc.get("finished_at"),
            files=doc["files"],
            total=doc.get("total"),
            done=doc.get("done", 0),
            failure=doc.get("failure"),
            summary=doc.get("summary"),
            errors=doc.get("errors", []),
        )


def _text(field: str, upload: UploadedFile, columns: tuple[str, ...]) -> str:
    if len(upload.content) > MAX_FILE_BYTES:
        raise InvalidUpload(field, f"a file of at most {MAX_FILE_BYTES // (1024 * 1024)} MB")
    try:
        text = decode(upload.content)
    except UnicodeDecodeError as exc:
        raise InvalidUpload(field, f"not UTF-8 text (byte {exc.start})") from None
    problem = header_problem(text, columns, f"{field}.csv")
    if problem is not None:
        raise InvalidUpload(field, problem)
    return text


def check_upload(members: UploadedFile, balances: UploadedFile | None) -> None:
    """Refuse files no import could read (CPU over the whole file: call it off the event loop)."""
    _text("members", members, MEMBER_COLUMNS)
    if balances is not None:
        _text("balances", balances, BALANCE_COLUMNS)


async def start_import(
    mongo: Mongo,
    clock: Clock,
    *,
    members: UploadedFile,
    balances: UploadedFile | None,
    dry_run: bool,
    actor: str,
    idempotency_key: str,
) -> tuple[ImportJob, bool]:
    """Store the files and queue their import; (the job, whether it was made before with this key).

    The caller has run `check_upload` on the files."""
    key = idempotency_key.strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidUpload("idempotency_key", f"1 to {MAX_KEY_LENGTH} characters")
    files = {"members": members} | ({"balances": balances} if balances is not None else {})
    request_hash = await asyncio.to_thread(_request_hash, files, dry_run)  # MBs: off the loop
    existing = await mongo[JOBS].find_one({"idempotency_key": key})
    if existing is not None:
        return _replay(existing, request_hash), True
    job_id = str(ObjectId())
    purge = purge_at(KEEP_PARTS)  # a job that never runs, or a request cut off midway
    stored: dict[str, Document] = {}
    for name, upload in files.items():
        parts = [
            upload.content[i : i + PART_BYTES] for i in range(0, len(upload.content), PART_BYTES)
        ] or [b""]
        for n, part in enumerate(parts):  # one part a command: each encodes in a millisecond
            # A replace by id, not an insert: the part's id is this request's own, so a write the
            # driver retries after the database restarted (its first attempt committed, the answer
            # lost) finds its own part and writes the same bytes again rather than a duplicate key.
            part_id = f"{job_id}:{name}:{n:04d}"
            await mongo[PARTS].replace_one(
                {"_id": part_id},
                {"job": job_id, "file": name, "data": Binary(part), "purge_at": purge},
                upsert=True,
            )
        stored[name] = {
            "name": upload.name[:200],
            "bytes": len(upload.content),
            "parts": len(parts),
        }
    document: Document = {
        "_id": job_id,
        "idempotency_key": key,
        "request_hash": request_hash,
        "status": ImportJobStatus.QUEUED.value,
        "dry_run": dry_run,
        "actor": actor,
        "created_at": instant(clock.now()),
        "files": stored,
        "done": 0,
        "attempts": 0,
    }
    files_seen = {name: {"name": f["name"], "bytes": f["bytes"]} for name, f in stored.items()}

    async def queue(session: AsyncClientSession) -> None:
        await mongo[JOBS].insert_one(document, session=session)
        await record_audit(
            mongo,
            clock,
            actor=actor,
            action="import.start",
            target=f"import:{job_id}",
            after={"files": files_seen, "dry_run": dry_run},
            session=session,
        )

    try:
        await run_in_transaction(mongo.client, queue, max_attempts=mongo.max_txn_attempts)
    except DuplicateKeyError:  # the same key at the same moment: the other upload's job stands
        await mongo[PARTS].delete_many({"job": job_id})
        raced = await mongo[JOBS].find_one({"idempotency_key": key})
        if raced is None:
            raise
        return _replay(raced, request_hash), True
    return ImportJob.from_document(document), False


def _request_hash(files: dict[str, UploadedFile], dry_run: bool) -> str:
    digest = hashlib.sha256(b"dry" if dry_run else b"real")
    for name, upload in files.items():
        digest.update(name.encode() + hashlib.sha256(upload.content).digest())
    return digest.hexdigest()


def _replay(existing: Document, request_hash: str) -> ImportJob:
    if existing["request_hash"] != request_hash:
        raise UploadConflict("this idempotency key started an import of other files")
    return ImportJob.from_document(existing)


async def get_import_job(mongo: Mongo, job_id: str) -> ImportJob | None:
    document = await mongo[JOBS].find_one({"_id": job_id})
    return None if document is None else ImportJob.from_document(document)


async def list_import_jobs(
    mongo: Mongo, *, first: int, before: str | None = None
) -> tuple[list[ImportJob], bool]:
    """Newest first; a page is a range of ids (they grow with time), after the job `before`."""
    documents, more = await newest_by_id(
        mongo[JOBS], first=first, before=before, projection={"idempotency_key": 0}
    )
    return [ImportJob.from_document(doc) for doc in documents], more


async def _claim(mongo: Mongo, clock: Clock, owner: str) -> Document | None:
    now = clock.now()
    return await mongo[JOBS].find_one_and_update(
        {
            "$or": [
                {"status": ImportJobStatus.QUEUED.value},
                {"status": ImportJobStatus.RUNNING.value, "beat_at": {"$lt": now - STALE}},
            ]
        },
        {"$set": {"status": ImportJobStatus.RUNNING.value, "owner": owner, "beat_at": now}},
        sort=[("_id", 1)],
        return_document=ReturnDocument.AFTER,
    )


async def _read(mongo: Mongo, job: Document, name: str) -> str:
    if name not in job["files"]:
        return ""
    parts = mongo[PARTS].find({"job": job["_id"], "file": name})
    chunks = sorted([(part["_id"], bytes(part["data"])) async for part in parts])
    if len(chunks) != job["files"][name]["parts"]:
        raise RuntimeError(f"import job {job['_id']}: parts of {name} are missing")
    return decode(b"".join(chunk for _, chunk in chunks))


async def run_due_import(mongo: Mongo, clock: Clock, *, owner: str) -> ImportJob | None:
    """Run the oldest due import job to its end; None when no job is due, or none can run yet."""
    if await held(mongo, clock, LEASE):
        return None  # another import runs (the CLI's): wait, without reading and parsing the files
    claimed = await _claim(mongo, clock, owner)
    if claimed is None:
        return None
    job_id = claimed["_id"]
    mine = {"_id": job_id, "owner": owner}

    async def beat(done: int, total: int) -> None:
        await mongo[JOBS].update_one(
            mine, {"$set": {"done": done, "total": total, "beat_at": clock.now()}}
        )

    if claimed.get("started_at") is None:
        await mongo[JOBS].update_one(mine, {"$set": {"started_at": clock.now()}})
    try:
        members = await _read(mongo, claimed, "members")
        balances = await _read(mongo, claimed, "balances") or ",".join(BALANCE_COLUMNS)
        summary = await import_files(
            mongo,
            clock,
            members,
            balances,
            actor=claimed["actor"],
            dry_run=claimed["dry_run"],
            progress=beat,
        )
    except asyncio.CancelledError:  # the worker stops cleanly: queued again, for the next at once
        with contextlib.suppress(TimeoutError, PyMongoError):  # else it is re-run once STALE
            async with asyncio.timeout(REQUEUE_SECONDS):
                await mongo[JOBS].update_one(
                    mine, {"$set": {"status": ImportJobStatus.QUEUED.value, "owner": None}}
                )
        raise
    except ImportRunning:  # another import (the CLI's): wait in the queue
        await mongo[JOBS].update_one(
            mine, {"$set": {"status": ImportJobStatus.QUEUED.value, "owner": None}}
        )
        return await get_import_job(mongo, job_id)
    except ProgramNotConfigured:
        return await _fail(mongo, clock, mine, "the program has not been configured yet")
    except PyMongoError:
        raise  # the database: the job stays running and is taken up again once STALE
    except Exception:
        log.exception("import job %s failed", job_id)
        if claimed.get("attempts", 0) + 1 >= MAX_ATTEMPTS:
            return await _fail(mongo, clock, mine, "an internal error stopped the import")
        await mongo[JOBS].update_one(
            mine,
            {
                "$set": {"status": ImportJobStatus.QUEUED.value, "owner": None},
                "$inc": {"attempts": 1},
            },
        )
        return await get_import_job(mongo, job_id)
    await _finish(
        mongo,
        mine,
        {
            "status": ImportJobStatus.DONE.value,
            "finished_at": clock.now(),
            "summary": summary.counts(),
            "errors": summary.shown_errors(),
        },
        claimed,
    )
    await mongo[PARTS].delete_many({"job": job_id})  # the files were read; the summary stays
    return await get_import_job(mongo, job_id)


async def _fail(mongo: Mongo, clock: Clock, mine: Document, failure: str) -> ImportJob | None:
    changes = {
        "status": ImportJobStatus.FAILED.value,
        "finished_at": clock.now(),
        "failure": failure,
    }
    job = await mongo[JOBS].find_one(mine)
    if job is not None:
        await _finish(mongo, mine, changes, job, more={"$inc": {"attempts": 1}})
    return await get_import_job(mongo, mine["_id"])


async def _finish(
    mongo: Mongo, mine: Document, changes: Document, job: Document, more: Document | None = None
) -> None:
    """The job's end, done or failed, and its `import.finished` event, in one transaction."""

    async def work(session: AsyncClientSession) -> None:
        ended = await mongo[JOBS].update_one(
            mine, {"$set": changes, **(more or {})}, session=session
        )
        if ended.modified_count:
            await append(
                mongo,
                session,
                "import.finished",
                None,
                {
                    "job_id": str(job["_id"]),
                    "status": changes["status"],
                    "dry_run": bool(job.get("dry_run")),
                    "counts": changes.get("summary") or {},
                    "failure": changes.get("failure"),
                },
                key=f"import:{job['_id']}",
                occurred_at=changes["finished_at"],
            )

    await mongo.transaction(work)
