"""Importing members and their opening balances, in chunks, idempotently and resumably.

- Each member row becomes a member keyed by its `legacy_id` (unique), with the row's fingerprint.
  A rerun skips a row imported with the same content and reports one whose content changed; it
  never applies a change silently.
- A member's balance rows become their opening books (app.ledger.open_books): each row one EARN
  and one lot with its original earn date and its own expiry. The member is written first marked
  `import_state: books`, then the books, then the mark cleared: a crash in between leaves marked
  members whose partial books the next run discards and writes again. Nobody is imported twice.
- Balance rows of a member imported by an earlier run are compared with what was imported then:
  the same are skipped, others reported.
- A refused row does not stop the others; the run ends with a summary and one audit entry.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pymongo.errors import BulkWriteError

from app.audit import record_audit
from app.clock import Clock
from app.db import Document, Mongo, upsert_and_get
from app.importer.rows import BalanceRow, MemberRow, RowError, read_balances, read_members
from app.ledger import OpeningEarn, discard_unfinished, open_books
from app.members.service import new_member_id
from app.program.service import current_program

CHUNK = 1_000
Progress = Callable[[int, int], None]


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


def _hash(value: object) -> str:
    return hashlib.sha256(json.dumps(value, default=str, sort_keys=True).encode()).hexdigest()


def _member_print(row: MemberRow) -> str:
    return _hash(
        [row.legacy_id, row.phone, row.name, row.email, row.birthday, row.tier, row.joined_at]
    )


def _balance_print(rows: Sequence[BalanceRow]) -> str:
    return _hash(sorted((r.points, r.earned_at, r.expires_at) for r in rows))


async def import_files(
    mongo: Mongo, clock: Clock, members_csv: str, balances_csv: str, *, actor: str,
    dry_run: bool = False, progress: Progress | None = None,
) -> Summary:  # fmt: skip
    now = clock.now()
    members, member_errors = read_members(members_csv, now.date())
    balances, balance_errors = read_balances(balances_csv, now)
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
    valid.sort(key=lambda row: row.legacy_id)  # chunks are disjoint ranges of the legacy ids
    run_id = secrets.token_hex(6)
    if not dry_run:
        for start in range(0, len(valid), CHUNK):
            chunk = valid[start : start + CHUNK]
            batch = f"{run_id}:{start // CHUNK}"
            await _import_chunk(mongo, now, chunk, by_member, program.tiers[0].code, summary, batch)
            if progress is not None:
                progress(start + len(chunk), len(valid))
    await _orphans(mongo, valid, by_member, summary)
    summary.errors.sort(key=lambda e: (e.file, e.line))
    if not dry_run:
        await record_audit(mongo, clock, actor=actor, action="import.run", target="members",
                           after=summary.counts())  # fmt: skip
    return summary


async def _import_chunk(
    mongo: Mongo, now: datetime, chunk: list[MemberRow], by_member: dict[str, list[BalanceRow]],
    entry_tier: str, summary: Summary, batch: str,
) -> None:  # fmt: skip
    # One range of the legacy-id index (the chunk is sorted), not an $in of a thousand values.
    span = {"$gte": chunk[0].legacy_id, "$lte": chunk[-1].legacy_id}
    found = {d["legacy_id"]: d async for d in mongo["members"].find(
        {"legacy_id": span}, {"legacy_id": 1, "import": 1})}  # fmt: skip
    fresh: list[MemberRow] = []
    resume: dict[str, MemberRow] = {}
    for row in chunk:
        prior = found.get(row.legacy_id)
        if prior is None:
            fresh.append(row)
        elif prior["import"]["member"] != _member_print(row):
            summary.members_changed += 1
            summary.errors.append(RowError("members.csv", row.line, "legacy_id",
                                           "imported before with other values: not changed"))  # fmt: skip
        elif prior["import"]["state"] == "books":
            resume[prior["_id"]] = row  # an earlier run stopped before its books were written
        else:
            summary.members_unchanged += 1
            _compare_balances(prior, by_member.get(row.legacy_id, []), summary)
    written = await _insert_members(mongo, now, fresh, by_member, entry_tier, summary, batch)
    await discard_unfinished(mongo, list(resume))
    await _open(mongo, now, written | resume, by_member, summary)
    done = {"$set": {"import.state": "done"}}
    if written:
        await mongo["members"].update_many({"import.batch": batch}, done)
    if resume:
        await mongo["members"].update_many({"_id": {"$in": list(resume)}}, done)
    summary.members_imported += len(written)


def _compare_balances(prior: Document, rows: list[BalanceRow], summary: Summary) -> None:
    if not rows:
        return
    if prior["import"].get("balances") == _balance_print(rows):
        summary.balances_unchanged += len(rows)
        return
    summary.balances_changed += len(rows)
    for row in rows:
        summary.errors.append(RowError("balances.csv", row.line, "legacy_id",
                                       "the member's balances were imported before with other "
                                       "rows: not changed"))  # fmt: skip


async def _insert_members(
    mongo: Mongo, now: datetime, rows: list[MemberRow], by_member: dict[str, list[BalanceRow]],
    entry_tier: str, summary: Summary, batch: str,
) -> dict[str, MemberRow]:  # fmt: skip
    """Insert new members (numbers reserved in one block); a phone another member has refuses
    that row only. Returns the members written, by id."""
    if not rows:
        return {}
    counter = await upsert_and_get(mongo["counters"], {"_id": "member_no"},
                                   {"$inc": {"value": len(rows)}})  # fmt: skip
    first = int(counter["value"]) - len(rows) + 1
    documents: list[Document] = []
    by_id: dict[str, MemberRow] = {}
    for number, row in enumerate(rows, start=first):
        member_id = new_member_id()
        by_id[member_id] = row
        documents.append({
            "_id": member_id, "member_no": f"JF{number:09d}", "name": row.name, "phone": row.phone,
            "email": row.email, "birthday": row.birthday.isoformat() if row.birthday else None,
            "tier": row.tier or entry_tier, "status": "active", "joined_at": row.joined_at or now,
            "legacy_id": row.legacy_id,
            "import": {"state": "books", "batch": batch, "member": _member_print(row),
                       "balances": _balance_print(by_member.get(row.legacy_id, [])), "at": now},
        })  # fmt: skip
    try:
        await mongo["members"].insert_many(documents, ordered=False)
    except BulkWriteError as exc:
        for failure in exc.details.get("writeErrors", []):
            member_id = documents[failure["index"]]["_id"]
            row = by_id.pop(member_id)
            duplicate = (
                "phone"
                if "phone" in str(failure.get("keyPattern", failure.get("errmsg")))
                else "legacy_id"
            )
            summary.errors.append(RowError("members.csv", row.line, duplicate,
                                           f"another member has this {duplicate}"))  # fmt: skip
    return by_id


async def _open(
    mongo: Mongo, now: datetime, members: dict[str, MemberRow],
    by_member: dict[str, list[BalanceRow]], summary: Summary,
) -> None:  # fmt: skip
    earns: dict[str, list[OpeningEarn]] = {}
    for member_id, row in members.items():
        rows = sorted(by_member.get(row.legacy_id, []), key=lambda b: b.earned_at)
        if rows:
            earns[member_id] = [OpeningEarn(b.points, b.earned_at, fixed_expiry=b.expires_at,
                                            reference=f"import line {b.line}",
                                            description="Opening balance from the old system")
                                for b in rows]  # fmt: skip
            summary.balances_imported += len(rows)
            summary.points_imported += sum(b.points for b in rows)
    await open_books(mongo, earns, now, key_prefix="import")


async def _orphans(
    mongo: Mongo, members: list[MemberRow], by_member: dict[str, list[BalanceRow]], summary: Summary
) -> None:
    """Balance rows whose member is neither in this file nor imported before."""
    named = {row.legacy_id for row in members}
    unknown = [legacy for legacy in by_member if legacy not in named]
    if not unknown:
        return
    known = {d["legacy_id"] async for d in mongo["members"].find(
        {"legacy_id": {"$in": unknown}}, {"legacy_id": 1})}  # fmt: skip
    for legacy in unknown:
        for row in by_member[legacy]:
            message = ("no member row was imported for it (missing from members.csv, or refused)"
                       if legacy not in known else
                       "the member was imported by an earlier run: give its balances with it")  # fmt: skip
            summary.errors.append(RowError("balances.csv", row.line, "legacy_id", message))
