"""A report as a table: a header and rows, and the same table as CSV text.

Every report has one (`Report.table()`): the GraphQL `csv` field, `jifen report ... --csv` and the
tests all render it through `to_csv`, so the CSV holds exactly the rows the API returns, written by
app.csv_files (a text cell a spreadsheet would run as a formula gets a leading quote).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from app.csv_files import write_csv

Cell = str | int | Decimal | date | datetime | None


@dataclass(frozen=True, slots=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


class Report(Protocol):
    def table(self) -> Table: ...


def to_csv(table: Table) -> str:
    return write_csv([table.header, *([_cell(value) for value in row] for row in table.rows)])


def _cell(value: Cell) -> str | int | Decimal:
    """Text and numbers as they are (write_csv escapes the text); dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
