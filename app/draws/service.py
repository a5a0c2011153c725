"""Creating, listing, closing and entering draws (see app/draws/__init__.py for the rules)."""

from __future__ import annotations

import hashlib
import json
import random
import secrets
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from app.audit import record_audit
from app.bounds import MAX_KEY_LENGTH_WIDE, in_calendar
from app.clock import Clock
from app.db import Document, Mongo, newest_first
from app.draws.errors import (
    DailyLimitReached,
    DrawClosed,
    DrawInvalid,
    DrawKeyReused,
    DrawNotFound,
    DrawRefused,
    DrawUnaffordable,
    PrizeOverLimit,
)
from app.draws.models import Draw, DrawEntry, Prize
from app.event_log import event
from app.ledger import (
    AccountFrozen,
    Entry,
    IdempotencyConflict,
    InsufficientPoints,
    LedgerUnit,
    PointsLimitExceeded,
    run_in_ledger,
)
from app.members import MemberSuspended
from app.program import current_program

_SYSTEM = secrets.SystemRandom()


def choose_prize(draw: Draw, pick: float) -> Prize | None:
    """The outcome at `pick` (uniform in [0, 1)): a prize by weight among those still in stock,
    or None ("no prize") by its weight.

    The pick is drawn once per entry, before its transaction: a rerun after a write conflict maps
    the same pick onto the stock it then sees, so contention never re-rolls the dice (re-rolling
    would favour "no prize", the one outcome that writes nothing to conflict on).
    """
    choices = [prize for prize in draw.prizes if prize.stock is None or prize.stock > 0]
    total = sum(prize.weight for prize in choices) + draw.no_prize_weight
    point = pick * total
    for prize in choices:
        if point < prize.weight:
            return prize
        point -= prize.weight
    return None


def draw_pick(rng: random.Random = _SYSTEM) -> float:
    """One uniform pick in [0, 1) from `secrets` (53 random bits)."""
    return rng.getrandbits(53) / (1 << 53)


def _fingerprint(values: object) -> str:
    return hashlib.sha256(json.dumps(values, default=str, sort_keys=True).encode()).hexdigest()


def _validated(document: Document) -> Draw:
    """The draw, or DrawInvalid naming the first field at fault."""
    try:
        draw = Draw.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(step) for step in first["loc"]) or None
        raise DrawInvalid(
            f"{where}: {first['msg']}" if where else first["msg"],
            str(first["loc"][0]) if first["loc"] else None,
        ) from None
    for name in ("starts_at", "ends_at"):
        if not in_calendar(getattr(draw, name)):
            raise DrawRefused("an instant in the years 2000 to 2199", name)
    return draw


async def create_draw(
    mongo: Mongo, clock: Clock, fields: dict[str, Any], *, idempotency_key: str, actor: str
) -> Draw:
    """A new draw from `fields` (Draw's fields but the id); once per key."""
    if not 0 < len(idempotency_key) <= MAX_KEY_LENGTH_WIDE:
        raise DrawRefused(f"1 to {MAX_KEY_LENGTH_WIDE} characters", "idempotency_key")
    draw = _validated({"_id": "dr_" + secrets.token_hex(8), **fields})
    fingerprint = _fingerprint(fields)
    document = {
        **draw.model_dump(by_alias=True, mode="python"),
        "admin_key": idempotency_key,
        "admin_fingerprint": fingerprint,
    }

    async def work(session: AsyncClientSession) -> Draw:
        await mongo["draws"].insert_one(document, session=session)
        await record_audit(
            mongo,
            clock,
            actor=actor,
            action="draw.create",
            target=f"draw:{draw.id}",
            after=json.loads(json.dumps(fields, default=str)),
            session=session,
        )
        return draw

    try:
        return await mongo.transaction(work)
    except DuplicateKeyError:
        prior = await mongo["draws"].find_one({"admin_key": idempotency_key})
        if prior is None or prior.get("admin_fingerprint") != fingerprint:
            raise DrawKeyReused("this key created another draw", "idempotency_key") from None
        return Draw.model_validate(prior)


async def close_draw(mongo: Mongo, clock: Clock, draw_id: str, *, reason: str, actor: str) -> Draw:
    """End a draw now (no more entries); closing a closed draw changes nothing."""

    async def work(session: AsyncClientSession) -> Draw:
        found = await mongo["draws"].find_one({"_id": draw_id}, session=session)
        if found is None:
            raise DrawNotFound("no such draw", "draw_id")
        if not found.get("closed"):
            await mongo["draws"].update_one(
                {"_id": draw_id}, {"$set": {"closed": True}}, session=session
            )
            await record_audit(
                mongo,
                clock,
                actor=actor,
                action="draw.close",
                target=f"draw:{draw_id}",
                note=reason,
                session=session,
            )
        return Draw.model_validate({**found, "closed": True})

    return await mongo.transaction(work)


async def list_draws(mongo: Mongo, now: datetime) -> list[Draw]:
    """The draws open now, ending soonest first, at most 100 (members see them all at once)."""
    query: Document = {"closed": False, "ends_at": {"$gt": now}}
    cursor = mongo["draws"].find(query).sort([("ends_at", 1), ("_id", 1)]).limit(100)
    return [d for d in [Draw.model_validate(d) async for d in cursor] if d.open_at(now)]


async def page_draws(
    mongo: Mongo, first: int, after: tuple[datetime, str] | None
) -> tuple[list[Draw], bool]:
    """Every draw, open or not, the latest ending first: one keyset page of (ends_at, id) and
    whether more follow."""
    found, more = await newest_first(mongo["draws"], {}, "ends_at", first=first, after=after)
    return [Draw.model_validate(d) for d in found], more


async def page_entries(
    mongo: Mongo, member_id: str, first: int, after: tuple[datetime, str] | None
) -> tuple[list[DrawEntry], bool]:
    """A member's entries, newest first: one keyset page of (created_at, id)."""
    found, more = await newest_first(
        mongo["draw_entries"], {"member_id": member_id}, "created_at", first=first, after=after
    )
    return [DrawEntry.model_validate(d) for d in found], more


async def update_draw(
    mongo: Mongo, clock: Clock, draw_id: str, changes: dict[str, Any], *, reason: str, actor: str
) -> Draw:
    """Change a draw's name, end, daily limit, no-prize weight, or a prize's weight or stock
    (`changes["prizes"]`: {prize id: {"weight"?, "stock"?}}); validated whole, audited with the
    values before and after. Setting the same values again changes and records nothing."""
    if not 0 < len(reason.strip()) <= 500:
        raise DrawRefused("a reason of 1 to 500 characters is required", "reason")

    async def work(session: AsyncClientSession) -> Draw:
        found = await mongo["draws"].find_one({"_id": draw_id}, session=session)
        if found is None:
            raise DrawNotFound("no such draw", "draw_id")
        draw = Draw.model_validate(found)
        updated = dict(found)
        for key in ("name", "ends_at", "daily_limit", "no_prize_weight"):
            if key in changes:
                updated[key] = changes[key]
        prizes = [dict(prize) for prize in found["prizes"]]
        for prize_id, values in changes.get("prizes", {}).items():
            prize = next((p for p in prizes if p["id"] == prize_id), None)
            if prize is None:
                raise DrawNotFound(f"the draw has no prize {prize_id!r}", "prizes")
            prize.update(values)
        updated["prizes"] = prizes
        after = _validated(updated)
        if after.ends_at <= clock.now() and not draw.closed and after.ends_at != draw.ends_at:
            raise DrawRefused("a new end must lie in the future", "ends_at")
        before_doc = draw.model_dump(mode="json", exclude={"id"})
        after_doc = after.model_dump(mode="json", exclude={"id"})
        if before_doc == after_doc:
            return draw
        fields = after.model_dump(by_alias=True, mode="python", exclude={"id", "closed"})
        await mongo["draws"].update_one({"_id": draw_id}, {"$set": fields}, session=session)
        changed = [key for key in after_doc if after_doc[key] != before_doc[key]]
        await record_audit(
            mongo,
            clock,
            actor=actor,
            action="draw.update",
            target=f"draw:{draw_id}",
            note=reason,
            before={k: before_doc[k] for k in changed},
            after={k: after_doc[k] for k in changed},
            session=session,
        )
        return after

    return await mongo.transaction(work)


async def enter_draw(
    mongo: Mongo,
    clock: Clock,
    *,
    member_id: str,
    draw_id: str,
    idempotency_key: str,
    rng: random.Random = _SYSTEM,
) -> DrawEntry:
    """Spend the draw's cost and return the prize, in one transaction; a replay returns it."""
    if not 0 < len(idempotency_key) <= MAX_KEY_LENGTH_WIDE:
        raise DrawRefused(f"1 to {MAX_KEY_LENGTH_WIDE} characters", "idempotency_key")
    zone = (await current_program(mongo)).zone
    pick = draw_pick(rng)

    async def work(unit: LedgerUnit) -> DrawEntry:
        found = await mongo["draws"].find_one({"_id": draw_id}, session=unit.session)
        if found is None:
            raise DrawNotFound("no such draw", "draw_id")
        draw = Draw.model_validate(found)
        if not draw.open_at(unit.now):
            raise DrawClosed("this draw is not open", "draw_id")
        if draw.daily_limit is not None:
            day = unit.now.astimezone(zone).date().isoformat()
            await _claim_today(mongo, unit.session, draw, member_id, day)
        prize = choose_prize(draw, pick)
        if prize is not None and prize.stock is not None:
            await _take_prize(mongo, unit.session, draw.id, prize.id)
        return await _record(mongo, unit, draw, member_id, prize)

    async def replay(entry: Entry) -> DrawEntry:
        document = await mongo["draw_entries"].find_one({"entry_id": entry.id})
        assert document is not None, "a draw's spend always has its entry"
        return DrawEntry.model_validate(document)

    try:
        return await run_in_ledger(
            mongo,
            clock,
            work,
            idempotency_key=f"draw:{member_id}:{idempotency_key}",
            fingerprint=_fingerprint(draw_id),
            replay=replay,
        )
    except IdempotencyConflict:
        raise DrawKeyReused("this key entered another draw", "idempotency_key") from None


async def _claim_today(
    mongo: Mongo, session: AsyncClientSession, draw: Draw, member_id: str, day: str
) -> None:
    """Count the entry against the member's daily limit (one conditional upsert, serialising
    the member's entries of the day)."""
    limit = draw.daily_limit
    assert limit is not None
    had = {"$ifNull": ["$count", 0]}
    counted = {"$cond": [{"$lt": [had, limit]}, {"$add": [had, 1]}, had]}
    before = await mongo["draw_limits"].find_one_and_update(
        {"_id": f"{draw.id}:{member_id}:{day}"},
        [{"$set": {"count": counted}}],
        upsert=True,
        session=session,
    )
    if before is not None and int(before["count"]) >= limit:
        raise DailyLimitReached(limit)


async def _take_prize(
    mongo: Mongo, session: AsyncClientSession, draw_id: str, prize_id: str
) -> None:
    """One unit of the prize: the snapshot saw it in stock; a racing entry that took the last one
    first makes this a write conflict, and the transaction reruns against the new stock."""
    taken = await mongo["draws"].update_one(
        {"_id": draw_id, "prizes": {"$elemMatch": {"id": prize_id, "stock": {"$gt": 0}}}},
        {"$inc": {"prizes.$.stock": -1}},
        session=session,
    )
    if taken.modified_count != 1:
        raise RuntimeError(f"prize {prize_id} of {draw_id} was not in stock in the snapshot")


async def _record(
    mongo: Mongo, unit: LedgerUnit, draw: Draw, member_id: str, prize: Prize | None
) -> DrawEntry:
    entry_id = "de_" + secrets.token_hex(10)
    outcome = {
        "draw_id": draw.id,
        "draw_entry_id": entry_id,
        "prize_id": prize.id if prize else None,
        "prize_name": prize.name if prize else None,
    }
    try:
        spent = await unit.spend(
            member_id,
            draw.cost,
            reference=draw.name,
            channel="app",
            description=f"Draw: {draw.name}",
            actor=member_id,
            extra=outcome,
        )
    except InsufficientPoints as exc:
        raise DrawUnaffordable(exc.available, exc.requested, str(exc)) from None
    except AccountFrozen:
        raise MemberSuspended("this member is suspended", ("draw_id",)) from None
    if prize is not None and prize.points > 0:
        try:
            await unit.credit(
                member_id,
                prize.points,
                reason=f"Draw prize: {prize.name}",
                actor=member_id,
                reference=draw.name,
                extra=outcome,
            )
        except PointsLimitExceeded as exc:
            raise PrizeOverLimit(str(exc)) from None
    entry = DrawEntry(
        id=entry_id,
        draw_id=draw.id,
        member_id=member_id,
        prize_id=prize.id if prize else None,
        prize_name=prize.name if prize else None,
        prize_points=prize.points if prize else 0,
        cost=draw.cost,
        entry_id=spent.id,
        created_at=unit.now,
    )
    await mongo["draw_entries"].insert_one(
        entry.model_dump(by_alias=True, mode="python"), session=unit.session
    )
    data = {"draw_id": draw.id, "draw_entry_id": entry_id, "cost": draw.cost}
    unit.emit(
        event("draw.entered", member_id, data, key=f"draw.entered:{entry_id}", occurred_at=unit.now)
    )
    if prize is not None:
        won = {**data, "prize_id": prize.id, "prize_name": prize.name, "prize_points": prize.points}
        unit.emit(
            event("draw.won", member_id, won, key=f"draw.won:{entry_id}", occurred_at=unit.now)
        )
    return entry
