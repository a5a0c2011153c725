"""A report as a table: a header and rows, and the same table as CSV text.

Every report has one (`Report.table()`): the GraphQL `csv` field, `jifen report ... --csv` and the
tests all render it through `to_csv`, so the CSV holds exactly the rows the API returns. A text
cell that a spreadsheet would run as a formula (=, +, -, @ first) is prefixed with a quote.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

Cell = str | int | Decimal | date | datetime | None


@dataclass(frozen=True, slots=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


class Report(Protocol):
    def table(self) -> Table: ...


def to_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.header)
    for row in table.rows:
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()


def _cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return str(value)
