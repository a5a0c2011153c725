"""Reading an old system's CSV files into checked rows, every refusal named by line and field.

members.csv:  legacy_id,phone,name,email,birthday,tier,joined_at
balances.csv: legacy_id,points,earned_at,expires_at   (one row per lot: its points and dates)

Dates are ISO: `2025-03-01` (midnight UTC) or an instant with its offset. Empty cells are absent
values (no phone, no email, the program's entry tier, joined now, points that never expire). The
files are read by app.csv_files: line numbers are physical lines with the header as line 1, and a
row it cannot read (a quote never closed, a NUL) is refused by its line like any other.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

from app.bounds import MAX_ENTRY_POINTS
from app.csv_files import BadHeader, RefusedRow, read_rows
from app.members import (
    InvalidPhone,
    InvalidProfile,
    check_birthday,
    check_email,
    check_name,
    normalise_phone,
)

MEMBER_COLUMNS = ("legacy_id", "phone", "name", "email", "birthday", "tier", "joined_at")
BALANCE_COLUMNS = ("legacy_id", "points", "earned_at", "expires_at")
MAX_LEGACY_ID = 64


@dataclass(frozen=True)
class RowError:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file} line {self.line}: {self.field}: {self.message}"


@dataclass(frozen=True)
class MemberRow:
    line: int
    legacy_id: str
    phone: str | None
    name: str
    email: str | None
    birthday: date | None
    tier: str | None
    joined_at: datetime | None


@dataclass(frozen=True)
class BalanceRow:
    line: int
    legacy_id: str
    points: int
    earned_at: datetime
    expires_at: datetime | None


class Refused(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def header_problem(text: str, columns: tuple[str, ...], name: str) -> str | None:
    """Why the file's header cannot be read as `columns`, or None."""
    try:
        next(read_rows(text, columns), None)
    except BadHeader as exc:
        return f"{name}: {exc}"
    return None


def _records(
    text: str, columns: tuple[str, ...], name: str, errors: list[RowError]
) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows of one file by line; a row the reader refuses goes to `errors`, and so does a
    header it cannot use (then there are no rows)."""
    try:
        for row in read_rows(text, columns):
            if isinstance(row, RefusedRow):
                errors.append(RowError(name, row.line, row.field, row.message))
            else:
                yield row.line, row.cells
    except BadHeader as exc:
        errors.append(RowError(name, 1, "header", f"{name}: {exc}"))


def instant(text: str, field: str) -> datetime:
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
        value = datetime.fromisoformat(text)
    except ValueError:
        raise Refused(field, f"not a date: {text[:40]!r}") from None
    if value.tzinfo is None:
        raise Refused(field, "an instant needs its UTC offset, e.g. 2025-03-01T10:00:00+08:00")
    return value.astimezone(UTC)


def _legacy_id(record: dict[str, str]) -> str:
    legacy_id = record["legacy_id"]
    if not 0 < len(legacy_id) <= MAX_LEGACY_ID:
        raise Refused("legacy_id", f"1 to {MAX_LEGACY_ID} characters")
    if not legacy_id.isprintable():
        raise Refused("legacy_id", "holds a control character")
    return legacy_id


def _member(line: int, record: dict[str, str], today: date) -> MemberRow:
    legacy_id = _legacy_id(record)
    try:
        phone = normalise_phone(record["phone"]) if record["phone"] else None
    except InvalidPhone as exc:
        raise Refused("phone", str(exc)) from None
    try:
        name = check_name(record["name"])
        email = check_email(record["email"]) if record["email"] else None
        born = date.fromisoformat(record["birthday"]) if record["birthday"] else None
        birthday = check_birthday(born, today) if born else None
    except InvalidProfile as exc:
        raise Refused(exc.field, str(exc)) from None
    except ValueError:
        raise Refused("birthday", "not a date (YYYY-MM-DD)") from None
    joined = instant(record["joined_at"], "joined_at") if record["joined_at"] else None
    return MemberRow(line, legacy_id, phone, name, email, birthday, record["tier"] or None, joined)


def _balance(line: int, record: dict[str, str], now: datetime) -> BalanceRow:
    legacy_id = _legacy_id(record)
    try:
        points = int(record["points"])
    except ValueError:
        raise Refused("points", f"not a whole number: {record['points'][:20]!r}") from None
    if not 0 < points <= MAX_ENTRY_POINTS:
        raise Refused("points", f"1 to {MAX_ENTRY_POINTS}")
    if not record["earned_at"]:
        raise Refused("earned_at", "required")
    earned_at = instant(record["earned_at"], "earned_at")
    if earned_at > now:
        raise Refused("earned_at", "in the future")
    expires = instant(record["expires_at"], "expires_at") if record["expires_at"] else None
    if expires is not None and expires <= earned_at:
        raise Refused("expires_at", "not after earned_at")
    return BalanceRow(line, legacy_id, points, earned_at, expires)


def read_members(text: str, today: date) -> tuple[list[MemberRow], list[RowError]]:
    """The valid rows and an error per refused row; a legacy id or phone seen twice refuses the
    later row."""
    rows: list[MemberRow] = []
    errors: list[RowError] = []
    seen_ids: set[str] = set()
    seen_phones: set[str] = set()
    for line, record in _records(text, MEMBER_COLUMNS, "members.csv", errors):
        try:
            row = _member(line, record, today)
            if row.legacy_id in seen_ids:
                raise Refused("legacy_id", "appears on an earlier line")
            if row.phone is not None and row.phone in seen_phones:
                raise Refused("phone", "appears on an earlier line")
        except Refused as exc:
            errors.append(RowError("members.csv", line, exc.field, str(exc)))
            continue
        seen_ids.add(row.legacy_id)
        if row.phone is not None:
            seen_phones.add(row.phone)
        rows.append(row)
    return rows, errors


def read_balances(text: str, now: datetime) -> tuple[list[BalanceRow], list[RowError]]:
    rows: list[BalanceRow] = []
    errors: list[RowError] = []
    for line, record in _records(text, BALANCE_COLUMNS, "balances.csv", errors):
        try:
            rows.append(_balance(line, record, now))
        except Refused as exc:
            errors.append(RowError("balances.csv", line, exc.field, str(exc)))
    return rows, errors
