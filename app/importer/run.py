"""Importing members and their opening balances, in chunks, idempotently and resumably.

- Each member row becomes a member keyed by its `legacy_id` (unique), with the row's fingerprint.
  A rerun skips a row imported with the same content and reports one whose content changed; it
  never applies a change silently.
- A member's balance rows become their opening books (app.ledger.open_books): each row one EARN
  and one lot with its original earn date and its own expiry.
- A chunk's order of writes makes the member document the mark of a finished import: the chunk's
  new member ids go into a journal (`import_chunks`), then their books, then the members, then the
  journal entry is deleted. A crash in between leaves a journal entry; the next run discards the
  books of its ids that have no member (nobody could see them) and imports those rows afresh.
  Members written before the crash are complete and stay. This costs one small document per chunk
  where marking each member finished cost an update per member, which on the embedded database
  rewrites every index entry of the member (a third of the import's time).
- One import runs at a time (a lease), so a run never discards another's unfinished chunk.
- A refused row does not stop the others; the run ends with a summary and one audit entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pymongo.errors import BulkWriteError

from app.audit import record_audit
from app.bounds import MAX_ACCOUNT_POINTS
from app.clock import Clock
from app.db import Document, Mongo, upsert_and_get
from app.importer.rows import BalanceRow, MemberRow, RowError, read_balances, read_members
from app.leases import acquire, release
from app.ledger import OpeningBooks, OpeningEarn, build_books, discard_unfinished, write_books
from app.members import new_member_id
from app.program import current_program

CHUNK = 1_000
JOURNAL = "import_chunks"
LEASE = "import"
DUPLICATE_KEY = 11000
SHOWN_ERRORS = 500  # refused rows an API answer or an import job lists; the count is whole
LEASE_PERIOD = timedelta(minutes=1)  # renewed at every chunk: a crashed run blocks a minute
Progress = Callable[[int, int], Awaitable[None] | None]  # an import job records it (async)


class ImportRunning(Exception):
    """Another import holds the lease."""


@dataclass
class Summary:
    members_imported: int = 0
    members_unchanged: int = 0
    members_changed: int = 0
    balances_imported: int = 0
    balances_unchanged: int = 0
    balances_changed: int = 0
    points_imported: int = 0
    errors: list[RowError] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in vars(self).items() if isinstance(v, int)} | {
            "errors": len(self.errors)
        }

    def shown_errors(self) -> list[dict[str, object]]:
        """The refused rows an answer lists (the first SHOWN_ERRORS, by file and line)."""
        return [vars(error) for error in self.errors[:SHOWN_ERRORS]]


def _hash(value: object) -> str:
    return hashlib.sha256(json.dumps(value, default=str, sort_keys=True).encode()).hexdigest()


def _member_print(row: MemberRow) -> str:
    return _hash(
        [row.legacy_id, row.phone, row.name, row.email, row.birthday, row.tier, row.joined_at]
    )


def _balance_print(rows: Sequence[BalanceRow]) -> str:
    return _hash(sorted((r.points, r.earned_at, r.expires_at) for r in rows))


async def import_files(
    mongo: Mongo,
    clock: Clock,
    members_csv: str,
    balances_csv: str,
    *,
    actor: str,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> Summary:
    now = clock.now()
    # Reading a big file is seconds of CPU: off the event loop, which may be serving requests.
    members, member_errors = await asyncio.to_thread(read_members, members_csv, now.date())
    balances, balance_errors = await asyncio.to_thread(read_balances, balances_csv, now)
    summary = Summary(errors=member_errors + balance_errors)
    program = await current_program(mongo)
    tiers = {tier.code for tier in program.tiers}
    valid: list[MemberRow] = []
    for row in members:
        if row.tier is not None and row.tier not in tiers:
            summary.errors.append(
                RowError("members.csv", row.line, "tier", f"no tier {row.tier!r}")
            )
        else:
            valid.append(row)
    by_member: dict[str, list[BalanceRow]] = defaultdict(list)
    for balance in balances:
        by_member[balance.legacy_id].append(balance)
    valid = _within_account(valid, by_member, summary)
    valid.sort(key=lambda row: row.legacy_id)  # chunks are disjoint ranges of the legacy ids
    run_id = secrets.token_hex(6)
    await _report(progress, 0, len(valid))
    if dry_run:
        for start in range(0, len(valid), CHUNK):
            fresh = await _classify(mongo, valid[start : start + CHUNK], by_member, summary)
            await _would_import(mongo, fresh, by_member, summary)
            await _report(progress, min(start + CHUNK, len(valid)), len(valid))
    else:
        if not await acquire(mongo, clock, LEASE, run_id, LEASE_PERIOD):
            raise ImportRunning("another import is running; try again when it has finished")
        try:
            await _finish_interrupted(mongo)
            await _import_chunks(
                mongo, clock, valid, by_member, program.tiers[0].code, summary, run_id, progress
            )
        finally:
            await release(mongo, LEASE, run_id)
    await _orphans(mongo, valid, by_member, summary)
    summary.errors.sort(key=lambda e: (e.file, e.line))
    if not dry_run:
        await record_audit(
            mongo, clock, actor=actor, action="import.run", target="members", after=summary.counts()
        )
    return summary


async def _report(progress: Progress | None, done: int, total: int) -> None:
    reported = None if progress is None else progress(done, total)
    if reported is not None:
        await reported


@dataclass
class _Chunk:
    """A chunk's new members, ready to write: their documents, rows and opening books."""

    batch: str
    now: datetime
    documents: list[Document]
    rows: dict[str, MemberRow]  # by member id
    books: OpeningBooks
    opened: dict[str, tuple[int, int]]  # member id: (balance rows, points)


async def _import_chunks(
    mongo: Mongo,
    clock: Clock,
    valid: list[MemberRow],
    by_member: dict[str, list[BalanceRow]],
    entry_tier: str,
    summary: Summary,
    run_id: str,
    progress: Progress | None,
) -> None:
    """Each chunk is prepared (read, numbered, its books built) while the database writes the one
    before: the database is the bottleneck, and this keeps it from waiting on the import."""
    chunks = [valid[start : start + CHUNK] for start in range(0, len(valid), CHUNK)]

    def prepare(number: int) -> asyncio.Task[_Chunk | None]:
        return asyncio.create_task(
            _prepare(
                mongo, clock, chunks[number], by_member, entry_tier, summary, f"{run_id}:{number}"
            )
        )

    ahead = prepare(0) if chunks else None
    done = 0
    try:
        for number, chunk in enumerate(chunks):
            assert ahead is not None
            prepared = await ahead
            ahead = prepare(number + 1) if number + 1 < len(chunks) else None
            if prepared is not None:
                await _write(mongo, prepared, summary)
            done += len(chunk)
            await _report(progress, done, len(valid))
            if not await acquire(mongo, clock, LEASE, run_id, LEASE_PERIOD):
                raise ImportRunning("the import lost its lease to another run")
    finally:
        if ahead is not None:  # a failed chunk: the next one's preparation is not wanted
            ahead.cancel()
            with contextlib.suppress(BaseException):
                await ahead


async def _prepare(
    mongo: Mongo,
    clock: Clock,
    chunk: list[MemberRow],
    by_member: dict[str, list[BalanceRow]],
    entry_tier: str,
    summary: Summary,
    batch: str,
) -> _Chunk | None:
    # Each chunk's entries are stamped as recorded when it is prepared, within the rollup's
    # SETTLE of their commit however long the whole import takes.
    now = clock.now()
    fresh = await _classify(mongo, chunk, by_member, summary)
    if not fresh:
        return None
    documents = await _member_documents(mongo, now, fresh, by_member, entry_tier, batch)
    rows = {document["_id"]: row for document, row in zip(documents, fresh, strict=True)}
    earns, opened = _opening_earns(rows, by_member)
    books = await asyncio.to_thread(build_books, earns, now)  # CPU: off the event loop
    return _Chunk(batch, now, documents, rows, books, opened)


async def _write(mongo: Mongo, chunk: _Chunk, summary: Summary) -> None:
    ids = list(chunk.rows)
    await mongo[JOURNAL].insert_one({"_id": chunk.batch, "members": ids, "at": chunk.now})
    await write_books(mongo, chunk.books)
    written = await _insert_members(mongo, chunk.documents, chunk.rows, summary)
    await discard_unfinished(mongo, [member_id for member_id in ids if member_id not in written])
    await mongo[JOURNAL].delete_one({"_id": chunk.batch})
    summary.members_imported += len(written)
    for member_id in written:
        balances, points = chunk.opened.get(member_id, (0, 0))
        summary.balances_imported += balances
        summary.points_imported += points


async def _classify(
    mongo: Mongo, chunk: list[MemberRow], by_member: dict[str, list[BalanceRow]], summary: Summary
) -> list[MemberRow]:
    """The chunk's rows not imported before; those imported before are counted unchanged, or
    reported when their content changed (never applied)."""
    # One range of the legacy-id index (the chunk is sorted), not an $in of a thousand values.
    span = {"$gte": chunk[0].legacy_id, "$lte": chunk[-1].legacy_id}
    found = {
        d["legacy_id"]: d
        async for d in mongo["members"].find({"legacy_id": span}, {"legacy_id": 1, "import": 1})
    }
    fresh: list[MemberRow] = []
    for row in chunk:
        prior = found.get(row.legacy_id)
        if prior is None:
            fresh.append(row)
        elif "member" not in prior["import"]:  # erased: the row's fingerprint went with its data
            summary.errors.append(
                RowError(
                    "members.csv",
                    row.line,
                    "legacy_id",
                    "this member was erased: not imported again",
                )
            )
        elif prior["import"]["member"] != _member_print(row):
            summary.members_changed += 1
            summary.errors.append(
                RowError(
                    "members.csv",
                    row.line,
                    "legacy_id",
                    "imported before with other values: not changed",
                )
            )
        else:
            summary.members_unchanged += 1
            _compare_balances(prior, by_member.get(row.legacy_id, []), summary)
    return fresh


async def _would_import(
    mongo: Mongo, rows: list[MemberRow], by_member: dict[str, list[BalanceRow]], summary: Summary
) -> None:
    """A dry run's count of what these new rows would import: each row, unless its phone is
    another member's (in the database or on an earlier row of the file)."""
    phones = [row.phone for row in rows if row.phone is not None]
    taken = (
        {d["phone"] async for d in mongo["members"].find({"phone": {"$in": phones}}, {"phone": 1})}
        if phones
        else set()
    )
    for row in rows:
        if row.phone is not None and row.phone in taken:
            summary.errors.append(
                RowError("members.csv", row.line, "phone", "another member has this phone")
            )
            continue
        if row.phone is not None:
            taken.add(row.phone)
        balances = by_member.get(row.legacy_id, [])
        summary.members_imported += 1
        summary.balances_imported += len(balances)
        summary.points_imported += sum(balance.points for balance in balances)


async def _finish_interrupted(mongo: Mongo) -> None:
    """Chunks an earlier run left unfinished: their members are complete (written last); the
    books of the ids without a member are discarded, their rows imported again by this run."""
    async for journal in mongo[JOURNAL].find():
        ids = journal["members"]
        present = {d["_id"] async for d in mongo["members"].find({"_id": {"$in": ids}}, {"_id": 1})}
        await discard_unfinished(
            mongo, [member_id for member_id in ids if member_id not in present]
        )
        await mongo[JOURNAL].delete_one({"_id": journal["_id"]})


def _compare_balances(prior: Document, rows: list[BalanceRow], summary: Summary) -> None:
    if not rows:
        return
    if prior["import"].get("balances") == _balance_print(rows):
        summary.balances_unchanged += len(rows)
        return
    summary.balances_changed += len(rows)
    for row in rows:
        summary.errors.append(
            RowError(
                "balances.csv",
                row.line,
                "legacy_id",
                "the member's balances were imported before with other rows: not changed",
            )
        )


async def _member_documents(
    mongo: Mongo,
    now: datetime,
    rows: list[MemberRow],
    by_member: dict[str, list[BalanceRow]],
    entry_tier: str,
    batch: str,
) -> list[Document]:
    """The new members' documents, their numbers reserved in one block."""
    counter = await upsert_and_get(
        mongo["counters"], {"_id": "member_no"}, {"$inc": {"value": len(rows)}}
    )
    first = int(counter["value"]) - len(rows) + 1
    documents: list[Document] = []
    for number, row in enumerate(rows, start=first):
        documents.append(
            {
                "_id": new_member_id(),
                "member_no": f"JF{number:09d}",
                "name": row.name,
                "phone": row.phone,
                "email": row.email,
                "birthday": row.birthday.isoformat() if row.birthday else None,
                "tier": row.tier or entry_tier,
                "status": "active",
                "joined_at": row.joined_at or now,
                "legacy_id": row.legacy_id,
                "import": {
                    "batch": batch,
                    "member": _member_print(row),
                    "balances": _balance_print(by_member.get(row.legacy_id, [])),
                    "at": now,
                },
            }
        )
    return documents


async def _insert_members(
    mongo: Mongo, documents: list[Document], rows: dict[str, MemberRow], summary: Summary
) -> dict[str, MemberRow]:
    """Insert the members; a phone another member has refuses that row only. Returns the members
    written, by id."""
    by_id = dict(rows)
    try:
        await mongo["members"].insert_many(documents, ordered=False)
    except BulkWriteError as exc:
        failures = exc.details.get("writeErrors", [])
        if any(failure.get("code") != DUPLICATE_KEY for failure in failures):
            raise
        for failure in failures:
            member_id = documents[failure["index"]]["_id"]
            row = by_id.pop(member_id)
            duplicate = (
                "phone"
                if "phone" in str(failure.get("keyPattern", failure.get("errmsg")))
                else "legacy_id"
            )
            summary.errors.append(
                RowError("members.csv", row.line, duplicate, f"another member has this {duplicate}")
            )
    return by_id


def _within_account(
    rows: list[MemberRow], by_member: dict[str, list[BalanceRow]], summary: Summary
) -> list[MemberRow]:
    """The rows whose balances an account can hold (app.bounds): a member whose balance rows add
    up to more is refused whole, with the line of each of its rows."""
    kept = []
    for row in rows:
        total = sum(balance.points for balance in by_member.get(row.legacy_id, ()))
        if total <= MAX_ACCOUNT_POINTS:
            kept.append(row)
            continue
        message = f"the member's balances add up to {total}, more than the {MAX_ACCOUNT_POINTS} an account may hold"
        summary.errors.append(RowError("members.csv", row.line, "legacy_id", message))
        for balance in by_member.pop(row.legacy_id):
            summary.errors.append(RowError("balances.csv", balance.line, "points", message))
    return kept


def _opening_earns(
    members: dict[str, MemberRow], by_member: dict[str, list[BalanceRow]]
) -> tuple[dict[str, list[OpeningEarn]], dict[str, tuple[int, int]]]:
    """The members' opening earns, oldest first, and each one's (balance rows, points)."""
    earns: dict[str, list[OpeningEarn]] = {}
    opened: dict[str, tuple[int, int]] = {}
    for member_id, row in members.items():
        rows = sorted(by_member.get(row.legacy_id, []), key=lambda b: b.earned_at)
        if rows:
            earns[member_id] = [
                OpeningEarn(
                    b.points,
                    b.earned_at,
                    fixed_expiry=b.expires_at,
                    reference=f"import line {b.line}",
                    description="Opening balance from the old system",
                )
                for b in rows
            ]
            opened[member_id] = (len(rows), sum(b.points for b in rows))
    return earns, opened


async def _orphans(
    mongo: Mongo, members: list[MemberRow], by_member: dict[str, list[BalanceRow]], summary: Summary
) -> None:
    """Balance rows whose member is neither in this file nor imported before."""
    named = {row.legacy_id for row in members}
    unknown = [legacy for legacy in by_member if legacy not in named]
    if not unknown:
        return
    known = {
        d["legacy_id"]
        async for d in mongo["members"].find({"legacy_id": {"$in": unknown}}, {"legacy_id": 1})
    }
    for legacy in unknown:
        for row in by_member[legacy]:
            message = (
                "no member row was imported for it (missing from members.csv, or refused)"
                if legacy not in known
                else "the member was imported by an earlier run: give its balances with it"
            )
            summary.errors.append(RowError("balances.csv", row.line, "legacy_id", message))
