"""Public facts about the program: its name, what the points are called, its tiers."""

from __future__ import annotations

import strawberry

from app.program.models import Program as ProgramModel
from app.program.models import Tier as TierModel
from app.program.service import ProgramNotConfigured, get_program
from graphql_schema.context import Info
from graphql_schema.errors import NotConfigured


@strawberry.type
class Tier:
    code: str
    name: str
    threshold: int = strawberry.field(description="Qualifying points needed to reach this tier.")

    @classmethod
    def from_model(cls, tier: TierModel) -> Tier:
        return cls(code=tier.code, name=tier.name, threshold=tier.threshold)


@strawberry.type
class Program:
    name: str
    currency: str
    timezone: str = strawberry.field(description="IANA time zone that decides calendar rules.")
    tiers: list[Tier]

    @classmethod
    def from_model(cls, program: ProgramModel) -> Program:
        return cls(
            name=program.name,
            currency=program.currency,
            timezone=program.timezone,
            tiers=[Tier.from_model(tier) for tier in program.tiers],
        )


async def resolve_program(info: Info) -> Program:
    try:
        program = await get_program(info.context.runtime.mongo)
    except ProgramNotConfigured:
        raise NotConfigured("the program has not been configured yet") from None
    return Program.from_model(program)
