"""The value of a point over time: each program version's `point_value`, from its `updated_at`.

The program keeps every version (app/program/service.py): `current` and `v<N>`. The value in
force at an instant is the one of the latest version made at or before it. Before the first
version (opening balances imported with their original dates) the first version's value stands:
it is the earliest value the program ever stated. Money is Decimal, multiplied exactly and
rounded once, at the end, to the currency's minor unit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from app.db import Mongo
from app.program import CURRENT_ID, Program, ProgramNotConfigured

_VERSION_ID = re.compile(r"^v[0-9]+$")
_DEFAULT_VALUE = Decimal(str(Program.model_fields["point_value"].default))
_DEFAULT_CURRENCY = str(Program.model_fields["money_currency"].default)
# ISO 4217 currencies without a minor unit; every other is rounded to cents.
_ZERO_DECIMALS = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "PYG", "XAF", "XOF"})


@dataclass(frozen=True, slots=True)
class PointValue:
    version: int
    since: datetime | None  # the version's updated_at
    value: Decimal
    currency: str

    def money(self, points: int) -> Decimal:
        """points × value, rounded half up to the currency's minor unit."""
        unit = Decimal(1) if self.currency in _ZERO_DECIMALS else Decimal("0.01")
        return (self.value * points).quantize(unit, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class ValueHistory:
    """Every version's point value, oldest first."""

    versions: tuple[PointValue, ...]

    def before(self, until: datetime) -> PointValue:
        """The value in force just before `until`: the latest version made before it."""
        found = self.versions[0]
        for version in self.versions:
            if version.since is not None and version.since >= until:
                break
            found = version
        return found


async def value_history(mongo: Mongo) -> ValueHistory:
    """The program's point values; ProgramNotConfigured if there is no program."""
    projection = {"version": 1, "updated_at": 1, "point_value": 1, "money_currency": 1}
    found = []
    async for document in mongo["program"].find({}, projection):
        if document["_id"] != CURRENT_ID and not _VERSION_ID.match(str(document["_id"])):
            continue  # a change request's stored result, not a version
        found.append(
            PointValue(
                version=int(document["version"]),
                since=document.get("updated_at"),
                value=Decimal(str(document.get("point_value", _DEFAULT_VALUE))),
                currency=str(document.get("money_currency", _DEFAULT_CURRENCY)),
            )
        )
    if not found:
        raise ProgramNotConfigured("no program is configured")
    return ValueHistory(tuple(sorted(found, key=lambda value: value.version)))
