"""CSV as the product writes and reads it: one escaping for every cell written, one reader for
every file read.

Written: the reports' CSV (the GraphQL `csv` fields, `jifen report --csv`, and the console's
downloads, which are that text as the API gives it). The csv module quotes as RFC 4180 says; on top
of that, a text cell a spreadsheet would run as a formula gets a leading single quote, which
spreadsheets take as "this cell is text" and do not show. The first characters that trigger it:
OWASP's `= + - @`, tab and carriage return; NUL (OWASP ASVS 1.2.10) and line feed; and the
full-width `＝ ＋ － ＠`, which spreadsheets used in zh-CN locales (WPS, Excel with a Chinese
input method) may turn into their ASCII forms. We cannot test every spreadsheet in every locale,
and a quote before a rare full-width sign costs nothing, so they are escaped too. Numbers are
written as they are: a negative number is a number, not a formula.

Read: members.csv and balances.csv of an import (app/importer), from `jifen import`,
`importMembers` and `startImport` alike. Lines are physical lines (each ended by LF, CRLF or CR)
and the header is line 1, as a spreadsheet numbers them; a record whose quoted cell holds line
breaks is named by its first line, and the records after it keep their own numbers. A record the
csv module cannot read (a quote never closed, text after a closing quote, a cell past the size
limit), or one that spans lines without the header's number of cells (a stray quote that closed
rows later), is refused by its first line and reading goes on from the line after it: one bad
quote costs its row, never the rest of the file. A cell holding NUL, or a lone surrogate (text
UTF-8 cannot encode, so neither MongoDB nor a JSON answer could carry it), refuses its row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

FORMULA_STARTS = frozenset("=+-@\t\r\n\x00＝＋－＠")


def spreadsheet_safe(text: str) -> str:
    """`text` as a cell no spreadsheet runs as a formula (a quote before a dangerous start)."""
    return "'" + text if text[:1] in FORMULA_STARTS else text


def write_csv(rows: Iterable[Sequence[str | int | Decimal]]) -> str:
    """Rows as CSV text (LF line ends): text cells made spreadsheet-safe, numbers as numbers."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow([_written(cell) for cell in row])
    return out.getvalue()


def _written(cell: str | int | Decimal) -> str | int:
    if isinstance(cell, str):
        return spreadsheet_safe(cell)
    if isinstance(cell, Decimal):
        return f"{cell:f}"  # never an exponent: 1E+2 is read back as text by some spreadsheets
    return cell


def decode(content: bytes) -> str:
    """An uploaded or local file's bytes as text: UTF-8, with or without a byte order mark.
    UnicodeDecodeError names the first byte that is not UTF-8."""
    return content.decode("utf-8").removeprefix("\ufeff")


class BadHeader(ValueError):
    """The first line is not a header with the columns needed; the message says why."""


@dataclass(frozen=True, slots=True)
class Row:
    line: int  # the physical line the row starts on (the header is line 1)
    cells: dict[str, str]  # by column, stripped; a missing cell is ""
    last: int  # the line it ends on (a quoted cell may hold line breaks)


@dataclass(frozen=True, slots=True)
class RefusedRow:
    line: int
    field: str  # the column at fault, or "row"
    message: str


def read_rows(text: str, columns: Sequence[str]) -> Iterator[Row | RefusedRow]:
    """The rows of a CSV text whose header has `columns` (in any order, with others), each a Row
    or a RefusedRow; blank lines are no rows. BadHeader when the header is unusable."""
    lines = io.StringIO(text, newline="").readlines()
    suspect = _suspect(text)
    records = _records(lines, 0)
    header = next(records, None)
    if isinstance(header, RefusedRow):
        raise BadHeader(f"the header cannot be read: {header.message}")
    names = [] if header is None else [cell.strip().lower() for cell in header.cells]
    if suspect and _unstorable(names) is not None:
        raise BadHeader("the header holds a NUL character or a lone surrogate")
    width = len(names)
    missing = [column for column in columns if column not in names]
    if missing:
        raise BadHeader(f"needs the columns {', '.join(columns)}; missing {', '.join(missing)}")
    while True:
        for record in records:
            if isinstance(record, RefusedRow):
                yield record
                continue
            cells = record.cells
            if not any(cell.strip() for cell in cells):
                continue  # blank lines are not rows
            problem = _shape(record, width) if len(cells) != width else None
            if problem is not None:
                yield problem
                if record.last > record.line:  # its quote closed rows later: read those again
                    records = _records(lines, record.line)
                    break
                continue
            at = _unstorable(cells) if suspect else None
            if at is not None:
                yield RefusedRow(
                    record.line,
                    names[at] if at < len(names) else "row",
                    "holds a NUL character or a lone surrogate",
                )
                continue
            if len(cells) != width:  # short: the missing cells are empty; long: blank
                cells = (cells + [""] * width)[:width]
            yield Row(
                record.line, dict(zip(names, map(str.strip, cells), strict=True)), record.last
            )
        else:
            return


@dataclass(frozen=True, slots=True)
class _Record:
    line: int
    last: int
    cells: list[str]


def _records(lines: list[str], start: int) -> Iterator[_Record | RefusedRow]:
    """The csv module's records from line `start + 1` on, each with its first and last physical
    line. A record it cannot read is refused and reading resumes on the line after its first."""
    while start < len(lines):
        reader = csv.reader(map(lines.__getitem__, range(start, len(lines))), strict=True)
        read = 0
        try:
            for cells in reader:
                first, read = start + read + 1, reader.line_num
                yield _Record(first, start + read, cells)
            return
        except csv.Error as exc:
            first = start + read + 1
            yield RefusedRow(first, "row", _unreadable(str(exc), first, start + reader.line_num))
            start = first


def _unreadable(error: str, first: int, last: int) -> str:
    if "end of data" in error:
        return "a quoted cell that opens on this line is never closed"
    if "expected after" in error and last > first:
        return (
            f"a quoted cell that opens on this line runs to line {last}, where text follows "
            "its closing quote: check the quotes"
        )
    if "expected after" in error:
        return 'text after a quoted cell\'s closing quote (a quote inside a cell is written "")'
    if "field larger than field limit" in error:
        return f"a cell longer than {csv.field_size_limit()} characters (a quote never closed?)"
    return f"not CSV: {error}"


def _shape(record: _Record, columns: int) -> RefusedRow | None:
    cells = record.cells
    if record.last > record.line and len(cells) != columns:
        return RefusedRow(
            record.line,
            "row",
            f"a quoted cell opens on this line and closes on "
            f"line {record.last} with {len(cells)} cells where the header has "
            f"{columns}: check the quotes",
        )
    if len(cells) > columns and any(cell.strip() for cell in cells[columns:]):
        return RefusedRow(
            record.line,
            "row",
            f"{len(cells)} cells where the header has {columns}"
            ": a cell holding a comma must be in quotes",
        )
    return None


def _suspect(text: str) -> bool:
    """Whether any cell may hold NUL or a lone surrogate (one pass over the text, not per cell)."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _unstorable(cells: Sequence[str]) -> int | None:
    """The index of the first cell holding NUL or a lone surrogate."""
    for n, cell in enumerate(cells):
        if "\x00" in cell:
            return n
        try:
            cell.encode("utf-8")
        except UnicodeEncodeError:
            return n
    return None
