"""The schema's own scalars: BigInt for point sums over many accounts.

One account's figures are Int (app.bounds keeps them far inside 32 bits); a sum over a program's
members (a report, a bulk 清零, an import) is not bounded by them, and is a BigInt: a JSON number,
exact up to 2^53 (9·10^15, ten million accounts at their bound).
"""

from __future__ import annotations

from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

BigInt = NewType("BigInt", int)
# The schema maps the type to its definition (StrawberryConfig.scalar_map, see schema.py).
BIG_INT = strawberry.scalar(
    name="BigInt",
    serialize=int,
    parse_value=int,
    description="A whole number beyond 32 bits (exact up to 2^53), as a JSON number.",
)
SCALARS: dict[object, ScalarDefinition] = {BigInt: BIG_INT}
