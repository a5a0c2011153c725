"""Bulk 清零 and bulk extension: a job over a filter's members, run under a lease, resumable.

Making a job decides its members once: it reads the filter's members (with the cut-off instant
fixed then, so a member who turns dormant during the run is not swept in) and stores their ids in
numbered batches beside the job, all in one transaction with the job and its audit entry.

Running it handles the members in that order, up to TXN_MEMBERS of them in one transaction,
which does two things or nothing: each member's ledger entry (under the key
"points-job:<job>:<member>", so no run ever clears a member twice), and the job's position and
totals moved on past them, guarded by the position the runner read (so a crash and a resume, or
a second runner, never count a member twice; a crash loses only the batch in progress). The
batch's books are read at once (app.ledger.LedgerUnit.load_whole: accounts, live lots, and the
holds of members who hold points, a command each) and written at once: a few commands for the
whole batch where one member alone took eight. A member who was active again since the cut-off
is skipped, counted as such. The runner
holds the job's lease (app.leases) while it works: the CLI and the worker can both pick a
job up, and only one works on it at a time. The last member's run marks the job done and audits
its totals.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from app.audit import record_audit
from app.clock import Clock
from app.corrections.member import check_key, check_reason, check_until
from app.corrections.selection import MemberFilter, select
from app.db import Document, Mongo, newest_by_id, run_in_transaction
from app.leases import acquire, release
from app.ledger import (
    AccountClosed,
    Entry,
    IdempotencyConflict,
    LedgerUnit,
    instant,
    run_in_ledger,
)

JOBS = "points_jobs"
BATCHES = "points_job_members"
BATCH_SIZE = 500  # member ids per stored batch
LEASE = timedelta(seconds=60)
TXN_MEMBERS = 100  # members handled per transaction: a few commands for them all


class JobKind(StrEnum):
    CLEAR = "clear"
    EXTEND = "extend"


class JobStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"


class JobNotFound(LookupError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"no points job {job_id}")
        self.job_id = job_id


class JobBusy(RuntimeError):
    """Another runner holds the job's lease."""


class _Moved(Exception):
    """The job's position is not where this runner read it: read it again."""


@dataclass(frozen=True)
class PointsJob:
    id: str
    kind: JobKind
    status: JobStatus
    filter: MemberFilter
    cutoff: datetime | None
    until: datetime | None
    reason: str
    actor: str
    total: int  # members decided at the start
    expected_points: int  # what they held then
    done: int  # members handled (cleared or extended, or skipped)
    changed: int  # members with an entry
    skipped: int  # active again since the cut-off
    points: int  # points taken (a clear)
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_document(cls, doc: Document) -> PointsJob:
        return cls(
            id=doc["_id"],
            kind=JobKind(doc["kind"]),
            status=JobStatus(doc["status"]),
            filter=MemberFilter.from_document(doc["filter"]),
            cutoff=doc.get("cutoff"),
            until=doc.get("until"),
            reason=doc["reason"],
            actor=doc["actor"],
            total=doc["total"],
            expected_points=doc["expected_points"],
            done=doc["done"],
            changed=doc["changed"],
            skipped=doc["skipped"],
            points=doc["points"],
            created_at=doc["created_at"],
            finished_at=doc.get("finished_at"),
        )

    def totals(self) -> Document:
        return {
            "total": self.total,
            "done": self.done,
            "changed": self.changed,
            "skipped": self.skipped,
            "points": self.points,
        }


def _digest(**request: Any) -> str:
    body = json.dumps(request, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


async def create_job(
    mongo: Mongo,
    clock: Clock,
    *,
    kind: JobKind,
    member_filter: MemberFilter,
    reason: str,
    actor: str,
    idempotency_key: str,
    until: datetime | None = None,
) -> PointsJob:
    """Decide the members and store the job (running, nothing done yet), audited; once per key."""
    reason, key = check_reason(reason), check_key(idempotency_key)
    if kind is JobKind.EXTEND:
        until = check_until(until or clock.now(), clock.now())
    request_hash = _digest(
        kind=kind, filter=member_filter.to_document(), reason=reason, until=until
    )
    existing = await mongo[JOBS].find_one({"idempotency_key": key})
    if existing is not None:
        return _replay(existing, request_hash, key)
    now = instant(clock.now())
    cutoff = member_filter.cutoff(now)
    ids, points = await _decide(mongo, member_filter, cutoff, now)
    job_id = f"pj_{ObjectId()}"  # in the order jobs were made: pages are ranges of ids
    document: Document = {
        "_id": job_id,
        "kind": kind.value,
        "status": JobStatus.RUNNING.value,
        "filter": member_filter.to_document(),
        "cutoff": cutoff,
        "until": until,
        "reason": reason,
        "actor": actor,
        "total": len(ids),
        "expected_points": points,
        "done": 0,
        "changed": 0,
        "skipped": 0,
        "points": 0,
        "created_at": now,
        "finished_at": None,
        "idempotency_key": key,
        "request_hash": request_hash,
    }
    batches = [
        {
            "_id": _batch_id(job_id, n),
            "job_id": job_id,
            "member_ids": ids[start : start + BATCH_SIZE],
        }
        for n, start in enumerate(range(0, len(ids), BATCH_SIZE))
    ]

    async def store(session: AsyncClientSession) -> None:
        await mongo[JOBS].insert_one(document, session=session)
        if batches:
            await mongo[BATCHES].insert_many(batches, session=session)
        await record_audit(
            mongo,
            clock,
            actor=actor,
            action=f"points.{kind.value}_job.create",
            target=f"points_job:{job_id}",
            after={
                **member_filter.to_document(),
                "members": len(ids),
                "points": points,
                "until": until,
            },
            note=reason,
            session=session,
        )

    try:
        await run_in_transaction(mongo.client, store)
    except DuplicateKeyError:
        existing = await mongo[JOBS].find_one({"idempotency_key": key})
        if existing is None:
            raise
        return _replay(existing, request_hash, key)
    return PointsJob.from_document(document)


async def _decide(
    mongo: Mongo, member_filter: MemberFilter, cutoff: datetime | None, now: datetime
) -> tuple[list[str], int]:
    """The job's members, in the order it handles them, and their points now."""
    ids, points = [], 0
    async for candidate in select(mongo, member_filter, cutoff, now):
        ids.append(candidate.member_id)
        points += candidate.points
    return sorted(ids), points


def _replay(existing: Document, request_hash: str, key: str) -> PointsJob:
    if existing["request_hash"] != request_hash:
        raise IdempotencyConflict(key)
    return PointsJob.from_document(existing)


def _batch_id(job_id: str, n: int) -> str:
    return f"{job_id}:{n:06d}"


async def get_job(mongo: Mongo, job_id: str) -> PointsJob:
    doc = await mongo[JOBS].find_one({"_id": job_id})
    if doc is None:
        raise JobNotFound(job_id)
    return PointsJob.from_document(doc)


async def list_jobs(
    mongo: Mongo, *, first: int, before: str | None = None
) -> tuple[list[PointsJob], bool]:
    """Newest first; a page is a range of ids (they grow with time), after the job `before`."""
    documents, more = await newest_by_id(mongo[JOBS], first=first, before=before)
    return [PointsJob.from_document(doc) for doc in documents], more


Progress = Callable[[PointsJob], None]
Hook = Callable[[int], None]  # called with the position inside each member's transaction (tests)


async def run_job(
    mongo: Mongo,
    clock: Clock,
    job_id: str,
    *,
    owner: str,
    limit: int | None = None,
    progress: Progress | None = None,
    hook: Hook | None = None,
    batch: int = TXN_MEMBERS,
) -> PointsJob:
    """Handle the job's members from where it stands (at most `limit` of them), `batch` members
    per transaction; JobBusy if another runner holds its lease. Returns the job as it then stands."""
    lease = f"points-job:{job_id}"
    job = await get_job(mongo, job_id)
    handled = 0
    try:
        while job.status is JobStatus.RUNNING and (limit is None or handled < limit):
            if not await acquire(mongo, clock, lease, owner, LEASE):
                raise JobBusy(f"another runner holds {lease}")
            if job.done >= job.total:
                job = await _finish(mongo, clock, job)
                break
            stored = await mongo[BATCHES].find_one(
                {"_id": _batch_id(job.id, job.done // BATCH_SIZE)}
            )
            assert stored is not None, f"job {job.id} lost its member batch"
            left = stored["member_ids"][job.done % BATCH_SIZE :]
            while left and (limit is None or handled < limit):
                size = batch if limit is None else min(batch, limit - handled)
                members, left = left[:size], left[size:]
                try:
                    job = await _handle(mongo, clock, job, members, hook)
                except _Moved:
                    job = await get_job(mongo, job_id)
                    break
                handled += len(members)
                if progress is not None:
                    progress(job)
    finally:
        await release(mongo, lease, owner)
    return job


async def _handle(
    mongo: Mongo, clock: Clock, job: PointsJob, member_ids: list[str], hook: Hook | None
) -> PointsJob:
    """A batch of members in one transaction: each one's ledger entry (or, for a member active
    again since the cut-off, or erased since, a skip), and the job's position and totals."""
    position = job.done

    async def work(unit: LedgerUnit) -> PointsJob:
        await unit.load_whole(member_ids)  # every member's book in a few commands
        moved = {"done": 0, "changed": 0, "skipped": 0, "points": 0}
        for n, member_id in enumerate(member_ids):
            entry = await _change(unit, job, member_id)
            moved["done"] += 1
            if entry is None:
                moved["skipped"] += 1
            else:
                moved["changed"] += 1
                moved["points"] -= entry.points
            if hook is not None:
                hook(position + n)
        return await _advance(mongo, job, moved, unit)

    async def handled_before(entry: Entry) -> PointsJob:
        raise _Moved()  # another runner handled these members: the position moved with them

    try:
        return await run_in_ledger(
            mongo,
            clock,
            work,
            idempotency_key=_member_key(job, member_ids[0]),
            fingerprint=job.id,
            replay=handled_before,
            require_entry=False,
        )
    except (DuplicateKeyError, IdempotencyConflict):
        raise _Moved() from None  # a member's entry exists: handled by another runner


def _member_key(job: PointsJob, member_id: str) -> str:
    """The key of a member's entry: no run ever changes a member twice."""
    return f"points-job:{job.id}:{member_id}"


async def _advance(
    mongo: Mongo, job: PointsJob, moved: Document, unit: LedgerUnit | None = None
) -> PointsJob:
    """Move the job on past the members handled, from the position this runner read (else _Moved)."""
    result = await mongo[JOBS].update_one(
        {"_id": job.id, "done": job.done, "status": JobStatus.RUNNING.value},
        {"$inc": moved},
        session=None if unit is None else unit.session,
    )
    if result.matched_count != 1:
        raise _Moved()
    return PointsJob(
        **{**job.__dict__, **{name: getattr(job, name) + step for name, step in moved.items()}}
    )


async def _change(unit: LedgerUnit, job: PointsJob, member_id: str) -> Entry | None:
    """The member's entry, or None for a member left alone: active again since the cut-off
    (read from the book the batch loaded: no command), or erased since (an extension)."""
    last = (await unit.balance(member_id)).last_activity_at
    if job.cutoff is not None and last is not None and last >= job.cutoff:
        return None
    channel, reference, key = "job", job.id, _member_key(job, member_id)
    if job.kind is JobKind.CLEAR:
        return await unit.clear(
            member_id,
            reason=job.reason,
            actor=job.actor,
            channel=channel,
            reference=reference,
            key=key,
        )
    assert job.until is not None
    try:
        return await unit.extend(
            member_id,
            job.until,
            reason=job.reason,
            actor=job.actor,
            channel=channel,
            reference=reference,
            key=key,
        )
    except AccountClosed:
        return None


async def _finish(mongo: Mongo, clock: Clock, job: PointsJob) -> PointsJob:
    """Mark the job done and audit its totals, once."""
    now = instant(clock.now())

    async def finish(session: AsyncClientSession) -> bool:
        result = await mongo[JOBS].update_one(
            {"_id": job.id, "status": JobStatus.RUNNING.value},
            {"$set": {"status": JobStatus.DONE.value, "finished_at": now}},
            session=session,
        )
        if result.modified_count != 1:
            return False
        await record_audit(
            mongo,
            clock,
            actor=job.actor,
            action=f"points.{job.kind.value}_job.finish",
            target=f"points_job:{job.id}",
            after=job.totals(),
            note=job.reason,
            session=session,
        )
        return True

    await run_in_transaction(mongo.client, finish)
    return await get_job(mongo, job.id)


async def run_due_jobs(mongo: Mongo, clock: Clock, *, owner: str, limit: int) -> int:
    """The worker's pass: up to `limit` members of the oldest running job nobody else runs."""
    running = mongo[JOBS].find({"status": JobStatus.RUNNING.value}).sort("_id", 1).limit(20)
    for doc in await running.to_list():
        before = int(doc["done"])
        try:
            job = await run_job(mongo, clock, doc["_id"], owner=owner, limit=limit)
        except JobBusy:
            continue
        return job.done - before + (1 if job.status is JobStatus.DONE else 0)
    return 0
