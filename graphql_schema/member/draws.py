"""Points draws (积分抽奖) in the API: `draws` (open ones, with each prize's chance and what is
left) and `enterDraw` for members; createDraw, closeDraw and `allDraws` for operators (admin scope
draws:write). The rules are in app/draws."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.auth import PrincipalKind, actor_of
from app.draws import Draw as DrawModel
from app.draws import DrawEntry as DrawEntryModel
from app.draws import (
    DrawInvalid,
    DrawNotFound,
    close_draw,
    create_draw,
    enter_draw,
    list_draws,
    page_draws,
    page_entries,
    update_draw,
)
from graphql_schema.context import Info
from graphql_schema.errors import InvalidInput
from graphql_schema.ids import from_global_id, to_global_id
from graphql_schema.permissions import (
    MemberMutation,
    admin_scope,
    caller_member_id,
    require_kind,
)
from graphql_schema.refusals import as_payload
from graphql_schema.relay import INSTANT, KEY, Connection, Cursor, Node, connection, page_size
from graphql_schema.user_errors import UserError

SCOPE = "draws:write"
DRAWS = Cursor("draws", (INSTANT, KEY))
ENTRIES = Cursor("draw-entries", (INSTANT, KEY))


@strawberry.type(description="One prize of a draw.")
class DrawPrize:
    id: str
    name: str
    points: int = strawberry.field(description="Points the prize gives; 0 for goods.")
    chance: float = strawberry.field(description="The chance of winning it on one entry now.")
    remaining: int | None = strawberry.field(description="Units left; null when unlimited.")


@strawberry.type(description="A points draw (积分抽奖): each entry costs `cost` points.")
class Draw(Node):
    name: str
    cost: int
    starts_at: datetime
    ends_at: datetime
    daily_limit: int | None = strawberry.field(description="Entries per member per local day.")
    no_prize_chance: float
    closed: bool
    prizes: list[DrawPrize]

    @classmethod
    def from_model(cls, draw: DrawModel) -> Draw:
        live = [p for p in draw.prizes if p.stock is None or p.stock > 0]
        total = sum(p.weight for p in live) + draw.no_prize_weight or 1
        prizes = [
            DrawPrize(
                id=p.id,
                name=p.name,
                points=p.points,
                remaining=p.stock,
                chance=(p.weight / total) if p in live else 0.0,
            )
            for p in draw.prizes
        ]
        return cls(
            id=strawberry.ID(to_global_id("Draw", draw.id)),
            name=draw.name,
            cost=draw.cost,
            starts_at=draw.starts_at,
            ends_at=draw.ends_at,
            daily_limit=draw.daily_limit,
            no_prize_chance=draw.no_prize_weight / total,
            closed=draw.closed,
            prizes=prizes,
        )


@strawberry.type(description="The outcome of one entry.")
class DrawEntry:
    id: strawberry.ID
    draw_id: strawberry.ID
    won: bool
    prize_id: str | None
    prize_name: str | None
    prize_points: int
    cost: int
    created_at: datetime

    @classmethod
    def from_model(cls, entry: DrawEntryModel) -> DrawEntry:
        return cls(
            id=strawberry.ID(entry.id),
            draw_id=strawberry.ID(to_global_id("Draw", entry.draw_id)),
            won=entry.prize_id is not None,
            prize_id=entry.prize_id,
            prize_name=entry.prize_name,
            prize_points=entry.prize_points,
            cost=entry.cost,
            created_at=entry.created_at,
        )


DrawConnection = Connection[Draw]
DrawEntryConnection = Connection[DrawEntry]


@strawberry.input
class EnterDrawInput:
    draw_id: strawberry.ID
    idempotency_key: str


@strawberry.type
class EnterDrawPayload:
    entry: DrawEntry | None
    user_errors: list[UserError]


@strawberry.input
class PrizeInput:
    id: str
    name: str
    weight: int
    stock: int | None = None
    points: int = 0


@strawberry.input(description="A new draw; `noPrizeWeight` is the weight of winning nothing.")
class CreateDrawInput:
    name: str
    cost: int
    starts_at: datetime
    ends_at: datetime
    prizes: list[PrizeInput]
    daily_limit: int | None = None
    no_prize_weight: int = 0
    idempotency_key: str


@strawberry.input(description="A prize's new weight or stock; left out: unchanged.")
class PrizeChangeInput:
    id: str
    weight: int | None = strawberry.UNSET
    stock: int | None = strawberry.field(
        default=strawberry.UNSET, description="Units left (absolute); null: unlimited."
    )


@strawberry.input(description="What to change in a draw; a field left out stays as it is.")
class UpdateDrawInput:
    draw_id: strawberry.ID
    reason: str
    name: str | None = strawberry.UNSET
    ends_at: datetime | None = strawberry.UNSET
    daily_limit: int | None = strawberry.field(
        default=strawberry.UNSET, description="Null: no daily limit."
    )
    no_prize_weight: int | None = strawberry.UNSET
    prizes: list[PrizeChangeInput] | None = strawberry.UNSET


@strawberry.input
class CloseDrawInput:
    draw_id: strawberry.ID
    reason: str


@strawberry.type
class DrawAdminPayload:
    draw: Draw | None
    user_errors: list[UserError]


def _admin_failed(errors: list[UserError]) -> DrawAdminPayload:
    return DrawAdminPayload(draw=None, user_errors=errors)


def _draw_id(global_id: str) -> str:
    try:
        return from_global_id(global_id, "Draw")[1]
    except InvalidInput:
        raise DrawNotFound("no such draw", "draw_id") from None


async def resolve_draws(info: Info) -> list[Draw]:
    runtime = info.context.runtime
    draws = await list_draws(runtime.mongo, runtime.clock.now())
    return [Draw.from_model(draw) for draw in draws]


async def resolve_all_draws(
    info: Info, first: int = 20, after: str | None = None
) -> DrawConnection:
    size = page_size(first)
    mark = DRAWS.decode(after) if after is not None else None
    draws, more = await page_draws(info.context.runtime.mongo, size, mark)
    return connection(
        draws,
        has_next=more,
        after=after,
        node=Draw.from_model,
        cursor=lambda d: DRAWS.encode(d.ends_at, d.id),
    )


async def draw_entries_page(
    info: Info, member_id: str, first: int, after: str | None
) -> DrawEntryConnection:
    """A member's draw entries and their outcomes, newest first."""
    size = page_size(first)
    mark = ENTRIES.decode(after) if after is not None else None
    entries, more = await page_entries(info.context.runtime.mongo, member_id, size, mark)
    return connection(
        entries,
        has_next=more,
        after=after,
        node=DrawEntry.from_model,
        cursor=lambda e: ENTRIES.encode(e.created_at, e.id),
    )


def _changes(input: UpdateDrawInput) -> dict[str, object]:
    given: dict[str, object] = {
        key: value
        for key, value in (
            ("name", input.name),
            ("ends_at", input.ends_at),
            ("daily_limit", input.daily_limit),
            ("no_prize_weight", input.no_prize_weight),
        )
        if value is not strawberry.UNSET
    }
    for key in ("name", "ends_at", "no_prize_weight"):
        if key in given and given[key] is None:
            raise DrawInvalid(f"{key} cannot be null", key)
    if input.prizes is not strawberry.UNSET and input.prizes is not None:
        prizes: dict[str, dict[str, object]] = {}
        for change in input.prizes[:60]:
            pairs = (("weight", change.weight), ("stock", change.stock))
            values: dict[str, object] = {k: v for k, v in pairs if v is not strawberry.UNSET}
            if values.get("weight", 0) is None:
                raise DrawInvalid("a prize's weight cannot be null", "prizes")
            prizes[change.id] = values
        given["prizes"] = prizes
    return given


async def update_draw_mutation(info: Info, input: UpdateDrawInput) -> DrawAdminPayload:
    actor = actor_of(require_kind(info, PrincipalKind.ADMIN, SCOPE))
    runtime = info.context.runtime

    async def run() -> DrawAdminPayload:
        draw = await update_draw(
            runtime.mongo,
            runtime.clock,
            _draw_id(input.draw_id),
            _changes(input),
            reason=input.reason,
            actor=actor,
        )
        return DrawAdminPayload(draw=Draw.from_model(draw), user_errors=[])

    return await as_payload(run, _admin_failed)


async def enter_draw_mutation(info: Info, input: EnterDrawInput) -> EnterDrawPayload:
    runtime = info.context.runtime

    async def run() -> EnterDrawPayload:
        entry = await enter_draw(
            runtime.mongo,
            runtime.clock,
            member_id=caller_member_id(info),
            draw_id=_draw_id(input.draw_id),
            idempotency_key=input.idempotency_key,
        )
        return EnterDrawPayload(entry=DrawEntry.from_model(entry), user_errors=[])

    return await as_payload(run, lambda e: EnterDrawPayload(entry=None, user_errors=e))


async def create_draw_mutation(info: Info, input: CreateDrawInput) -> DrawAdminPayload:
    actor = actor_of(require_kind(info, PrincipalKind.ADMIN, SCOPE))
    runtime = info.context.runtime
    fields = {
        "name": input.name,
        "cost": input.cost,
        "starts_at": input.starts_at,
        "ends_at": input.ends_at,
        "daily_limit": input.daily_limit,
        "no_prize_weight": input.no_prize_weight,
        "prizes": [
            {"id": p.id, "name": p.name, "weight": p.weight, "stock": p.stock, "points": p.points}
            for p in input.prizes[:60]
        ],
    }

    async def run() -> DrawAdminPayload:
        draw = await create_draw(
            runtime.mongo, runtime.clock, fields, idempotency_key=input.idempotency_key, actor=actor
        )
        return DrawAdminPayload(draw=Draw.from_model(draw), user_errors=[])

    return await as_payload(run, _admin_failed)


async def close_draw_mutation(info: Info, input: CloseDrawInput) -> DrawAdminPayload:
    actor = actor_of(require_kind(info, PrincipalKind.ADMIN, SCOPE))
    runtime = info.context.runtime

    async def run() -> DrawAdminPayload:
        draw = await close_draw(
            runtime.mongo,
            runtime.clock,
            _draw_id(input.draw_id),
            reason=input.reason[:500],
            actor=actor,
        )
        return DrawAdminPayload(draw=Draw.from_model(draw), user_errors=[])

    return await as_payload(run, _admin_failed)


draws_field = strawberry.field(
    resolver=resolve_draws, description="Points draws open now, ending soonest first."
)
all_draws_field = strawberry.field(
    resolver=resolve_all_draws,
    extensions=admin_scope(SCOPE),
    description="Operators: every draw, open or not, the latest ending first (draws:write).",
)
update_draw_field = strawberry.mutation(
    resolver=update_draw_mutation,
    extensions=admin_scope(SCOPE),
    description="Operators: change a draw's name, end, daily limit, no-prize weight, or a "
    "prize's weight or stock, with a reason (draws:write); audited before and after.",
)
enter_draw_field = strawberry.mutation(
    resolver=enter_draw_mutation,
    permission_classes=[MemberMutation],
    description="Spend a draw's cost and get its outcome at once; replaying the idempotencyKey "
    "returns the first outcome and spends nothing more.",
)
create_draw_field = strawberry.mutation(
    resolver=create_draw_mutation,
    extensions=admin_scope(SCOPE),
    description="Operators: create a draw with its prizes (draws:write); a key replays.",
)
close_draw_field = strawberry.mutation(
    resolver=close_draw_mutation,
    extensions=admin_scope(SCOPE),
    description="Operators: close a draw now (draws:write).",
)
