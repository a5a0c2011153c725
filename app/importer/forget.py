"""Removing an erased member from stored uploads and import results, for their erasure
(app/privacy).

An import job keeps its uploaded files (`import_parts`) until it is done, or a week when it never
runs or fails, and its refused rows may quote a cell (a date column that held an e-mail). The
files and the jobs are shared with other members, so only what names this member and nobody else
is looked for: their row (by their legacy id, one of their phones or e-mails) is blanked whole,
and any other place a phone, e-mail or device token of theirs is written is blanked too, in the
files, the refused rows and the files' names (on the job and its import.start audit entry).
Blanked means overwritten by spaces byte for byte, line breaks kept: the parts keep their sizes
and boundaries, every other row keeps its line number, and a blank row is no row, so a queued job
still imports everybody else. A job's request hash (of the bytes uploaded) stays, so a retried
upload with the same key still finds its job.

An import already running read its files before: it may still import the member's row as a new
member, whom the operator then erases as any other.
"""

from __future__ import annotations

import asyncio
import io

from bson import Binary

from app.audit import redact_audit
from app.csv_files import BadHeader, Row, read_rows
from app.db import Document, Mongo
from app.importer.rows import BALANCE_COLUMNS, MEMBER_COLUMNS
from app.importer.uploads import JOBS, PART_BYTES, PARTS
from app.members import InvalidPhone, normalise_phone
from app.personal_data import PersonalData

COLUMNS = {"members": MEMBER_COLUMNS, "balances": BALANCE_COLUMNS}


async def forget_uploads(mongo: Mongo, personal: PersonalData, legacy_id: str | None) -> None:
    """Idempotent: a second run finds nothing left to change."""
    identifying = personal.identifying
    jobs: list[str] = []
    async for job in mongo[JOBS].find({}, {"errors": 1, "files": 1}):
        jobs.append(job["_id"])
        update = {
            key: redacted
            for key in ("errors", "files")
            if (redacted := identifying.redact(job.get(key))) is not job.get(key)
        }
        if update:
            await mongo[JOBS].update_one({"_id": job["_id"]}, {"$set": update})
        for name in job.get("files") or {}:
            await _blank_file(mongo, job["_id"], name, identifying, legacy_id)
    # the import.start entries name the files uploaded
    await redact_audit(mongo, [f"import:{job_id}" for job_id in jobs], identifying, frozenset())


async def _blank_file(
    mongo: Mongo, job_id: str, name: str, personal: PersonalData, legacy_id: str | None
) -> None:
    parts = [part async for part in mongo[PARTS].find({"job": job_id, "file": name})]
    if not parts:
        return  # the job is done: its files were deleted
    parts.sort(key=lambda part: part["_id"])
    content = b"".join(bytes(part["data"]) for part in parts)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:  # a part missing or cut: the job fails on it anyway
        return
    # a file of MBs is a second of CPU to search, seconds to read: off the event loop
    columns = COLUMNS.get(name, ())
    blanked_text = await asyncio.to_thread(_blanked, text, personal, legacy_id, columns)
    if blanked_text is text:
        return
    blanked = blanked_text.encode("utf-8")
    assert len(blanked) == len(content)
    for n, part in enumerate(parts):
        data = blanked[n * PART_BYTES : (n + 1) * PART_BYTES]
        if data != bytes(part["data"]):
            await mongo[PARTS].update_one({"_id": part["_id"]}, {"$set": {"data": Binary(data)}})


def _blanked(
    text: str, personal: PersonalData, legacy_id: str | None, columns: tuple[str, ...]
) -> str:
    """`text` with the member's rows and their data elsewhere overwritten by spaces, each
    character by as many as its UTF-8 bytes, line breaks kept; `text` itself when they are not
    in it (one search decides, before the rows are read)."""
    spans = personal.spans(text)
    if not spans and (legacy_id is None or legacy_id not in text):
        return text
    lines = io.StringIO(text, newline="").readlines()
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    bom = 1 if text.startswith("\ufeff") else 0
    try:
        for row in read_rows(text[bom:], columns):
            if isinstance(row, Row) and _theirs(row.cells, personal, legacy_id):
                spans.append((starts[row.line - 1], starts[row.last]))  # the BOM is on line 1
    except BadHeader:
        pass  # no rows to find: the job refuses the file
    if not spans:
        return text
    pieces, at = [], 0
    for start, end in sorted(spans):
        start = max(start, at)
        if start >= end:
            continue
        pieces += [text[at:start], _spaces(text[start:end])]
        at = end
    return "".join([*pieces, text[at:]])


def _spaces(text: str) -> str:
    return "".join(c if c in "\r\n" else " " * len(c.encode("utf-8")) for c in text)


def _theirs(cells: Document, personal: PersonalData, legacy_id: str | None) -> bool:
    if legacy_id is not None and cells.get("legacy_id") == legacy_id:
        return True
    email = (cells.get("email") or "").lower()
    if email and email in {known.lower() for known in personal.emails}:
        return True
    try:
        return bool(cells.get("phone")) and normalise_phone(cells["phone"]) in personal.phones
    except InvalidPhone:
        return False
