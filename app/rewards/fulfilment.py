"""Goods that ship: the shipping address a redemption takes, and its fulfilment afterwards.

A reward with `ships` (goods only) needs a shipping address at redemption (`check_address`:
every field bounded and refused by name before any write); its redemption spends the points at
once, as every redemption does, and starts PENDING. From there:

    PENDING  -> SHIPPED (carrier, tracking number) -> DELIVERED
    PENDING  -> CANCELLED          (points back, stock back)
    SHIPPED or DELIVERED -> RETURNED (points back, stock back)

Any other move is refused (IllegalTransition) and changes nothing. `update_redemption` makes one
move in one transaction through the ledger's unit of work: the status (a write conditional on the
status read, so two movers of one redemption conflict and the loser reruns and sees the winner's
move), the points given back with `LedgerUnit.restore` (a positive REVERSAL whose lots keep the
terms, the expiry included, of the lots the points were spent from; points whose lots expired
since stay expired), the stock and the member's allowance back, the audit entry, the event
(`redemption.shipped`, `redemption.fulfilled` on delivery, `redemption.cancelled`,
`redemption.returned`) and the member's in-app notification (`redemption_<status>`).

Idempotent twice over: by the key (a move is recorded on the redemption with its key; the same
key again answers the redemption as it is, another move under it is KeyReused) and by the state
(a move to the status the redemption is in already, with the same carrier and tracking number,
changes nothing: a CSV of tracking numbers uploaded twice moves nothing the second time).

`ship_from_csv` reads a CSV of tracking numbers (redemption_id, carrier, tracking_number) with
app.csv_files' reader and ships each row's redemption; a refused row is reported by its line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from app.audit import record_audit
from app.bounds import MAX_KEY_LENGTH_WIDE
from app.clock import Clock
from app.csv_files import BadHeader, RefusedRow, read_rows
from app.db import Document, Mongo
from app.ledger import Entry, LedgerUnit, PointsLimitExceeded, run_in_ledger
from app.notifications import notify_event
from app.rewards.admin import put_back
from app.rewards.errors import (
    CatalogRefused,
    IllegalTransition,
    InvalidAddress,
    KeyReused,
    Missing,
    PointsLimit,
)
from app.rewards.models import Redemption, RedemptionStatus, ShippingAddress
from app.rewards.redemption import redemption_event

S = RedemptionStatus
MOVES: Mapping[RedemptionStatus, frozenset[RedemptionStatus]] = {
    S.PENDING: frozenset({S.SHIPPED, S.CANCELLED}),
    S.SHIPPED: frozenset({S.DELIVERED, S.RETURNED}),
    S.DELIVERED: frozenset({S.RETURNED}),
}
GIVES_BACK = frozenset({S.CANCELLED, S.RETURNED})
EVENT_TYPE = {
    S.SHIPPED: "redemption.shipped",
    S.DELIVERED: "redemption.fulfilled",
    S.CANCELLED: "redemption.cancelled",
    S.RETURNED: "redemption.returned",
}
REASON_MAX = 500
CARRIER_MAX = 64
TRACKING = re.compile(r"[A-Za-z0-9-]{4,40}")

# Each field of an address: (required, most characters, the characters it may hold or None).
ADDRESS_FIELDS: Mapping[str, tuple[bool, int, re.Pattern[str] | None]] = {
    "name": (True, 64, None),
    "phone": (True, 32, re.compile(r"\+?[0-9][0-9 ()-]{4,31}")),
    "line1": (True, 200, None),
    "line2": (False, 200, None),
    "city": (True, 64, None),
    "region": (True, 64, None),
    "postal_code": (True, 16, re.compile(r"[A-Za-z0-9][A-Za-z0-9 -]{0,15}")),
    "country": (True, 2, re.compile(r"[A-Z]{2}")),  # ISO 3166-1 alpha-2: CN, HK, US
}


def check_address(raw: Mapping[str, str | None], at: str = "shipping_address") -> ShippingAddress:
    """A shipping address with every field trimmed and within its bound; the first field at fault
    is refused by name (InvalidAddress, `field` = (at, name))."""
    clean: dict[str, str | None] = {}
    for name, (required, most, shape) in ADDRESS_FIELDS.items():
        value = (raw.get(name) or "").strip()
        if name == "country":
            value = value.upper()
        if not value:
            if required:
                raise InvalidAddress(f"the {name.replace('_', ' ')} is required", (at, name))
            clean[name] = None
            continue
        if len(value) > most:
            raise InvalidAddress(f"at most {most} characters", (at, name))
        if not value.isprintable():
            raise InvalidAddress("no control characters or line breaks", (at, name))
        if shape is not None and not shape.fullmatch(value):
            raise InvalidAddress(f"not a valid {name.replace('_', ' ')}", (at, name))
        clean[name] = value
    return ShippingAddress.model_validate(clean)


def _checked_move(
    status: RedemptionStatus, carrier: str | None, tracking: str | None, reason: str | None
) -> tuple[str | None, str | None, str | None]:
    """The move's own values, each bounded, before anything is read or written."""
    if status not in EVENT_TYPE:
        raise CatalogRefused(
            "a redemption moves to SHIPPED, DELIVERED, CANCELLED or RETURNED", "status"
        )
    carrier = (carrier or "").strip() or None
    tracking = (tracking or "").strip() or None
    reason = (reason or "").strip() or None
    if status is S.SHIPPED:
        if carrier is None or len(carrier) > CARRIER_MAX or not carrier.isprintable():
            raise CatalogRefused(f"a carrier of 1 to {CARRIER_MAX} characters", "carrier")
        if tracking is None or not TRACKING.fullmatch(tracking):
            raise CatalogRefused(
                "a tracking number of 4 to 40 letters, digits and hyphens", "tracking_number"
            )
    elif carrier is not None or tracking is not None:
        raise CatalogRefused("a carrier and tracking number only when shipping", "carrier")
    if status in GIVES_BACK and reason is None:
        raise CatalogRefused("a reason is required to cancel or take back goods", "reason")
    if reason is not None and (len(reason) > REASON_MAX or not reason.isprintable()):
        raise CatalogRefused(f"a reason of 1 to {REASON_MAX} characters", "reason")
    return carrier, tracking, reason


async def update_redemption(
    mongo: Mongo,
    clock: Clock,
    redemption_id: str,
    *,
    status: RedemptionStatus,
    idempotency_key: str,
    actor: str,
    carrier: str | None = None,
    tracking_number: str | None = None,
    reason: str | None = None,
) -> Redemption:
    """Move a redemption of goods that ship to `status` (see the module's docstring): refusals
    are CatalogRefused subclasses, raised before any write."""
    carrier, tracking_number, reason = _checked_move(status, carrier, tracking_number, reason)
    if not 0 < len(idempotency_key) <= MAX_KEY_LENGTH_WIDE:
        raise CatalogRefused(
            f"the idempotency key has 1 to {MAX_KEY_LENGTH_WIDE} characters", "idempotency_key"
        )
    move: Document = {
        "key": idempotency_key,
        "status": status.value,
        "carrier": carrier,
        "tracking_number": tracking_number,
    }

    async def work(unit: LedgerUnit) -> Redemption:
        found = await mongo["redemptions"].find_one({"_id": redemption_id}, session=unit.session)
        if found is None:
            raise Missing("no such redemption", "redemption_id")
        redemption = Redemption.model_validate(found)
        moves: list[Document] = found.get("fulfilment") or []
        for earlier in moves:
            if earlier["key"] == idempotency_key:
                if {k: earlier.get(k) for k in move} != move:
                    raise KeyReused("this idempotency key made another move", "idempotency_key")
                return redemption
        if redemption.status is status and (
            redemption.carrier,
            redemption.tracking_number,
        ) == (carrier, tracking_number):
            return redemption  # the state itself: this move was made already
        if status not in MOVES.get(redemption.status, frozenset()):
            raise IllegalTransition(redemption.status, status)
        now = unit.now
        if status in GIVES_BACK:
            await _give_back(mongo, unit, redemption, reason or "", actor)
        changes: Document = {"status": status.value, "status_changed_at": now}
        if status is S.SHIPPED:
            changes |= {"carrier": carrier, "tracking_number": tracking_number}
        record = {**move, "from": redemption.status.value, "reason": reason, "actor": actor}
        updated = await mongo["redemptions"].find_one_and_update(
            {"_id": redemption_id, "status": redemption.status.value},
            {"$set": changes, "$push": {"fulfilment": {**record, "at": now}}},
            session=unit.session,
            return_document=True,
        )
        assert updated is not None, "the status read in this transaction"
        after = Redemption.model_validate(updated)
        unit.emit(_event(after, now, reason))
        await _notify(mongo, unit, after)
        await record_audit(
            mongo,
            clock,
            actor=actor,
            action=f"redemption.{status.value}",
            target=f"redemption:{redemption_id}",
            before={"status": redemption.status.value},
            after={k: v for k, v in changes.items() if k != "status_changed_at"},
            note=reason,
            session=unit.session,
        )
        return after

    async def replay(entry: Entry) -> Redemption:  # pragma: no cover - moves answer by state
        document = await mongo["redemptions"].find_one({"_id": redemption_id})
        assert document is not None
        return Redemption.model_validate(document)

    return await run_in_ledger(
        mongo,
        clock,
        work,
        idempotency_key=f"fulfil:{redemption_id}:{status.value}",
        fingerprint="fulfil",
        replay=replay,
        require_entry=False,
    )


async def _give_back(
    mongo: Mongo, unit: LedgerUnit, redemption: Redemption, reason: str, actor: str
) -> None:
    """The points (with their lots' terms), the stock and the member's allowance."""
    assert redemption.entry_id is not None
    left = redemption.points - redemption.points_refunded  # a cash refund gave some back
    try:
        if left > 0:
            await unit.restore(
                redemption.entry_id,
                reason=f"Redemption {redemption.status.value} then given back: {reason}",
                actor=actor,
                reference=redemption.id,
                extra={"redemption_id": redemption.id},
                points=left,
                after=redemption.points_refunded,
            )
    except PointsLimitExceeded as exc:
        raise PointsLimit(str(exc), "redemption_id") from None
    await put_back(mongo, unit.session, redemption)


def _event(redemption: Redemption, now: datetime, reason: str | None) -> Document:
    more: dict[str, object] = {"status": redemption.status.value}
    if redemption.carrier is not None:
        more |= {"carrier": redemption.carrier, "tracking_number": redemption.tracking_number}
    if reason is not None:
        more["reason"] = reason
    return redemption_event(EVENT_TYPE[redemption.status], redemption, now, **more)


async def _notify(mongo: Mongo, unit: LedgerUnit, redemption: Redemption) -> None:
    """The member's in-app notification of the move (live to their subscriptions)."""
    member = await mongo["members"].find_one({"_id": redemption.member_id}, session=unit.session)
    if member is None:
        return  # erased since: nobody to tell
    kind = f"redemption_{redemption.status.value}"
    await notify_event(
        mongo,
        unit.session,
        unit.now,
        member=member,
        kind=kind,
        dedupe_key=f"{kind}:{redemption.id}",
        fields={
            "redemption_id": redemption.id,
            "reward_id": redemption.reward_id,
            "status": redemption.status.value,
            "carrier": redemption.carrier,
            "tracking_number": redemption.tracking_number,
            "points": redemption.points if redemption.status in GIVES_BACK else None,
        },
    )


CSV_COLUMNS = ("redemption_id", "carrier", "tracking_number")
MAX_CSV_CHARS = 1_000_000
MAX_CSV_ROWS = 5_000


@dataclass(frozen=True)
class TrackingUpload:
    """What a CSV of tracking numbers did: rows shipped now, rows that were shipped so already
    (an upload sent twice), and each refused row by its line (the header is line 1)."""

    shipped: int
    unchanged: int
    refused: list[RefusedRow]


async def ship_from_csv(
    mongo: Mongo,
    clock: Clock,
    text: str,
    *,
    idempotency_key: str,
    actor: str,
    redemption_id: Callable[[str], str | None],
) -> TrackingUpload:
    """Mark each row's redemption SHIPPED with its carrier and tracking number, one move per row
    (update_redemption, keyed by the upload's key and the row's redemption): a row refused is
    reported by its line and the others go on. `redemption_id` reads the id a row gives (the
    API's global id) as a redemption's own, None when it is not one."""
    if not 0 < len(idempotency_key) <= MAX_KEY_LENGTH_WIDE - 32:
        raise CatalogRefused(
            f"the idempotency key has 1 to {MAX_KEY_LENGTH_WIDE - 32} characters",
            "idempotency_key",
        )
    if not text.strip() or len(text) > MAX_CSV_CHARS:
        raise CatalogRefused(f"a CSV of 1 to {MAX_CSV_CHARS} characters", "csv")
    try:
        rows = list(read_rows(text, CSV_COLUMNS))
    except BadHeader as exc:
        raise CatalogRefused(str(exc), "csv") from None
    if len(rows) > MAX_CSV_ROWS:
        raise CatalogRefused(f"at most {MAX_CSV_ROWS} rows", "csv")
    shipped = unchanged = 0
    refused: list[RefusedRow] = []
    for row in rows:
        if isinstance(row, RefusedRow):
            refused.append(row)
            continue
        raw = redemption_id(row.cells["redemption_id"])
        if raw is None:
            refused.append(RefusedRow(row.line, "redemption_id", "not a redemption id"))
            continue
        try:
            before = await mongo["redemptions"].find_one({"_id": raw}, {"status": 1})
            moved = await update_redemption(
                mongo,
                clock,
                raw,
                status=S.SHIPPED,
                idempotency_key=f"csv:{idempotency_key}:{raw}"[:MAX_KEY_LENGTH_WIDE],
                actor=actor,
                carrier=row.cells["carrier"],
                tracking_number=row.cells["tracking_number"],
            )
        except CatalogRefused as exc:
            refused.append(RefusedRow(row.line, exc.field or "row", str(exc)))
            continue
        was_shipped = before is not None and before.get("status") == S.SHIPPED.value
        if was_shipped and moved.status is S.SHIPPED:
            unchanged += 1
        else:
            shipped += 1
    return TrackingUpload(shipped, unchanged, refused)
