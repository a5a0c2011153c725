"""积分+现金 (points + cash): a reward priced as points plus money, e.g. 2,000 points + 19.90 CNY.

Redeeming it (app.rewards.redemption.redeem) takes the stock and HOLDS the points through the
ledger's hold (LedgerUnit.hold, as partners' holdPoints does) for PAYMENT_WINDOW, in one
transaction, and answers an `order_id` for the brand's checkout of the money; the redemption is
AWAITING_PAYMENT. Then, each in one transaction through the ledger's unit of work:

- `confirm_payment` (the partner's payment confirmation): captures the hold (the REDEEM entry is
  made then) and completes the redemption (PENDING for goods that ship). Once per redemption: the
  capture is keyed `pay:<redemption>`, so the same confirmation again (the same paymentRef) is
  answered with the redemption, another one is PaymentRefused; a confirmation after the points
  were released (a failure, the window passed) is PaymentRefused too.
- `fail_payment`: releases the hold, puts the stock and the member's allowance back; the
  redemption is CANCELLED. Failing it again answers it as it is.
- `release_unpaid` (the worker's `unpaid-redemptions` job): the same for every redemption whose
  payment window has passed.

A refund of the cash part is not built (docs/fulfilment.md says what is left).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from app.bounds import MAX_KEY_LENGTH_WIDE
from app.clock import Clock
from app.db import Document, Mongo
from app.ledger import (
    Entry,
    HoldNotActive,
    HoldNotFound,
    IdempotencyConflict,
    LedgerUnit,
    run_in_ledger,
)
from app.rewards.admin import put_back
from app.rewards.errors import CatalogRefused, Missing, PaymentRefused
from app.rewards.models import Redemption, RedemptionStatus
from app.rewards.redemption import redemption_event

S = RedemptionStatus
PAYMENT_REF_MAX = 128


def cash_total(price: str, quantity: int) -> str:
    return f"{Decimal(price) * quantity:.2f}"


def _bounded(value: str, name: str, most: int) -> str:
    value = value.strip()
    if not 0 < len(value) <= most or not value.isprintable():
        raise CatalogRefused(f"1 to {most} printable characters", name)
    return value


async def _find(
    mongo: Mongo, unit: LedgerUnit, redemption_id: str | None, order_id: str | None
) -> Redemption:
    query: Document = {"_id": redemption_id} if redemption_id else {"order_id": order_id}
    found = await mongo["redemptions"].find_one(query, session=unit.session)
    if found is None or found.get("order_id") is None:
        raise Missing("no such points + cash redemption", "redemption_id")
    return Redemption.model_validate(found)


def _which(redemption_id: str | None, order_id: str | None) -> tuple[str | None, str | None]:
    if (redemption_id is None) == (order_id is None):
        raise CatalogRefused("give a redemptionId or an orderId", "redemption_id")
    if order_id is not None:
        order_id = _bounded(order_id, "order_id", 64)
    return redemption_id, order_id


async def confirm_payment(
    mongo: Mongo,
    clock: Clock,
    *,
    redemption_id: str | None = None,
    order_id: str | None = None,
    payment_ref: str,
    idempotency_key: str,
    actor: str,
) -> Redemption:
    """Capture the held points and complete the redemption (see the module's docstring)."""
    redemption_id, order_id = _which(redemption_id, order_id)
    payment_ref = _bounded(payment_ref, "payment_ref", PAYMENT_REF_MAX)
    _bounded(idempotency_key, "idempotency_key", MAX_KEY_LENGTH_WIDE)
    # the redemption's own id keys the capture: found first, outside the transaction
    probe = await mongo["redemptions"].find_one(
        {"_id": redemption_id} if redemption_id else {"order_id": order_id}, {"_id": 1}
    )
    if probe is None:
        raise Missing("no such points + cash redemption", "redemption_id")
    rid = str(probe["_id"])

    async def work(unit: LedgerUnit) -> Redemption:
        redemption = await _find(mongo, unit, rid, None)
        if redemption.status is not S.AWAITING_PAYMENT:
            raise PaymentRefused(
                f"the redemption is {redemption.status.value}, not awaiting payment"
            )
        assert redemption.hold_id is not None
        try:
            entry = await unit.capture(
                redemption.hold_id,
                description=f"Redeemed {redemption.quantity} × points + cash ({payment_ref})",
                actor=actor,
                channel="partner",
            )
        except (HoldNotActive, HoldNotFound):
            raise PaymentRefused(
                "the payment window has passed: the points were released"
            ) from None
        ships = redemption.shipping_address is not None
        done = S.PENDING if ships else S.COMPLETED
        changes = {
            "status": done.value,
            "entry_id": entry.id,
            "payment_ref": payment_ref,
            "status_changed_at": unit.now,
            "payment_due_at": None,
        }
        await mongo["redemptions"].update_one(
            {"_id": rid, "status": S.AWAITING_PAYMENT.value},
            {"$set": changes},
            session=unit.session,
        )
        paid = redemption.model_copy(
            update={
                "status": done,
                "entry_id": entry.id,
                "payment_ref": payment_ref,
                "payment_due_at": None,
            }
        )
        unit.emit(redemption_event("redemption.paid", paid, unit.now, status=done.value))
        return paid

    async def replay(entry: Entry) -> Redemption:
        document = await mongo["redemptions"].find_one({"_id": rid})
        assert document is not None
        return Redemption.model_validate(document)

    try:
        return await run_in_ledger(
            mongo,
            clock,
            work,
            idempotency_key=f"pay:{rid}",
            fingerprint=f"pay:{payment_ref}",
            replay=replay,
        )
    except IdempotencyConflict:
        raise PaymentRefused("this redemption was paid already, by another payment") from None


async def fail_payment(
    mongo: Mongo,
    clock: Clock,
    *,
    redemption_id: str | None = None,
    order_id: str | None = None,
    reason: str,
    actor: str,
) -> Redemption:
    """The brand's payment failed: the points released, the stock back, CANCELLED. A redemption
    paid already is PaymentRefused; one released already is answered as it is."""
    redemption_id, order_id = _which(redemption_id, order_id)
    reason = _bounded(reason, "reason", 500)

    async def work(unit: LedgerUnit) -> Redemption:
        redemption = await _find(mongo, unit, redemption_id, order_id)
        if redemption.status is S.CANCELLED:
            return redemption
        if redemption.status is not S.AWAITING_PAYMENT:
            raise PaymentRefused(f"the redemption is {redemption.status.value}: it was paid")
        return await _release(mongo, unit, redemption, reason, actor)

    return await run_in_ledger(
        mongo,
        clock,
        work,
        idempotency_key=f"payfail:{redemption_id or order_id}",
        fingerprint="fail",
        replay=_no_replay,
        require_entry=False,
    )


async def _no_replay(entry: Entry) -> Redemption:  # pragma: no cover - releases make no entry
    raise AssertionError("a release records no entry")


async def _release(
    mongo: Mongo, unit: LedgerUnit, redemption: Redemption, reason: str, actor: str
) -> Redemption:
    assert redemption.hold_id is not None
    await unit.release(redemption.hold_id)  # released or expired already: changes nothing
    await put_back(mongo, unit.session, redemption)
    changes = {
        "status": S.CANCELLED.value,
        "cancelled_at": unit.now,
        "cancel_reason": reason,
        "status_changed_at": unit.now,
        "payment_due_at": None,
    }
    await mongo["redemptions"].update_one(
        {"_id": redemption.id, "status": S.AWAITING_PAYMENT.value},
        {"$set": changes},
        session=unit.session,
    )
    cancelled = redemption.model_copy(update={"status": S.CANCELLED, "payment_due_at": None})
    unit.emit(redemption_event("redemption.cancelled", cancelled, unit.now, reason=reason))
    del actor  # the actor is in the event's reason and the hold's release
    return cancelled


async def release_unpaid(
    mongo: Mongo, clock: Clock, *, as_of: datetime | None = None, batch: int = 100
) -> int:
    """Release every points + cash redemption whose payment window has passed (the worker's
    `unpaid-redemptions` job): how many were released."""
    cutoff = as_of or clock.now()
    due = (
        await mongo["redemptions"]
        .find({"payment_due_at": {"$lte": cutoff}, "status": S.AWAITING_PAYMENT.value}, {"_id": 1})
        .limit(batch)
        .to_list(batch)
    )
    for one in due:
        await fail_payment(
            mongo,
            clock,
            redemption_id=str(one["_id"]),
            reason="the payment window passed",
            actor="worker:unpaid-redemptions",
        )
    return len(due)
