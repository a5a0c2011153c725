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

- `refund_payment` (a refund of the cash part, all or part): gives back the points in proportion
  (points × refunded money / money paid, rounded down, the refund that completes the money taking
  every point left, so the parts sum to the points exactly) with `LedgerUnit.restore`, under the
  lots' own expiry. The refund that completes the money cancels a redemption not yet shipped (the
  stock back); goods already sent stay as they are, and their RETURNED gives back only the points
  the refunds did not. Once per key (recorded on the redemption, at most MAX_REFUNDS).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal

from app.bounds import MAX_KEY_LENGTH_WIDE
from app.clock import Clock
from app.db import Document, Mongo
from app.event_log import event
from app.ledger import (
    Entry,
    HoldNotActive,
    HoldNotFound,
    IdempotencyConflict,
    LedgerUnit,
    run_in_ledger,
)
from app.rewards.admin import check_cash_price, put_back
from app.rewards.errors import (
    CatalogRefused,
    KeyReused,
    Missing,
    PaymentRefused,
    RefundTooLarge,
)
from app.rewards.models import Redemption, RedemptionStatus
from app.rewards.redemption import redemption_data, redemption_event

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


MAX_REFUNDS = 20
REFUNDABLE = frozenset({S.COMPLETED, S.PENDING, S.SHIPPED, S.DELIVERED})


async def refund_payment(
    mongo: Mongo,
    clock: Clock,
    *,
    redemption_id: str | None = None,
    order_id: str | None = None,
    amount: str,
    refund_ref: str,
    idempotency_key: str,
    actor: str,
) -> Redemption:
    """Refund `amount` of a paid points + cash redemption's money: its share of the points back
    (see the module's docstring). RefundTooLarge past what is left to refund; PaymentRefused for
    one not paid, or cancelled or returned already."""
    redemption_id, order_id = _which(redemption_id, order_id)
    try:
        money = check_cash_price(amount)
    except CatalogRefused as exc:
        raise CatalogRefused(str(exc), "amount") from None
    assert money is not None
    refund_ref = _bounded(refund_ref, "refund_ref", PAYMENT_REF_MAX)
    key = _bounded(idempotency_key, "idempotency_key", MAX_KEY_LENGTH_WIDE)
    record = {"key": key, "amount": money, "refund_ref": refund_ref}

    async def work(unit: LedgerUnit) -> Redemption:
        redemption = await _find(mongo, unit, redemption_id, order_id)
        found = await mongo["redemptions"].find_one({"_id": redemption.id}, session=unit.session)
        assert found is not None
        refunds: list[Document] = found.get("refunds") or []
        for earlier in refunds:
            if earlier["key"] == key:
                if {k: earlier.get(k) for k in record} != record:
                    raise CatalogRefused(
                        "this idempotency key made another refund", "idempotency_key"
                    )
                return redemption
        if redemption.status not in REFUNDABLE:
            raise PaymentRefused(f"the redemption is {redemption.status.value}: nothing to refund")
        if len(refunds) >= MAX_REFUNDS:
            raise RefundTooLarge(f"at most {MAX_REFUNDS} refunds of one redemption")
        assert redemption.cash_total is not None and redemption.entry_id is not None
        total = Decimal(redemption.cash_total)
        before = Decimal(redemption.cash_refunded or "0")
        after = before + Decimal(money)
        if after > total:
            raise RefundTooLarge(f"{total - before:.2f} is left to refund of {total:.2f}")
        points_after = (
            redemption.points if after == total else int(redemption.points * after // total)
        )
        give = points_after - redemption.points_refunded
        if give > 0:
            await unit.restore(
                redemption.entry_id,
                reason=f"Cash refund {refund_ref}: {money} of {total:.2f}",
                actor=actor,
                reference=redemption.id,
                extra={"redemption_id": redemption.id},
                points=give,
                after=redemption.points_refunded,
            )
        changes: Document = {"cash_refunded": f"{after:.2f}", "points_refunded": points_after}
        whole = after == total and redemption.status in (S.COMPLETED, S.PENDING)
        if whole:
            await put_back(mongo, unit.session, redemption)
            changes |= {
                "status": S.CANCELLED.value,
                "cancelled_at": unit.now,
                "cancel_reason": f"cash refunded ({refund_ref})",
                "status_changed_at": unit.now,
            }
        await mongo["redemptions"].update_one(
            {"_id": redemption.id, "status": redemption.status.value},
            {"$set": changes, "$push": {"refunds": {**record, "points": give, "at": unit.now}}},
            session=unit.session,
        )
        refunded = redemption.model_copy(
            update={
                "cash_refunded": changes["cash_refunded"],
                "points_refunded": points_after,
                "status": S.CANCELLED if whole else redemption.status,
            }
        )
        data = {
            **redemption_data(refunded),
            "status": refunded.status.value,
            "amount": money,
            "points_back": give,
        }
        unit.emit(
            event(
                "redemption.refunded",
                refunded.member_id,
                data,
                key=f"redemption.refunded:{refunded.id}:{len(refunds)}",
                occurred_at=unit.now,
            )
        )
        return refunded

    try:
        return await run_in_ledger(
            mongo,
            clock,
            work,
            idempotency_key=f"refund:{redemption_id or order_id}:{key}",
            fingerprint=f"refund:{money}:{refund_ref}",
            replay=_read_back(mongo, redemption_id, order_id),
            require_entry=False,
        )
    except IdempotencyConflict:
        raise KeyReused("this idempotency key made another refund", "idempotency_key") from None


def _read_back(
    mongo: Mongo, redemption_id: str | None, order_id: str | None
) -> Callable[[Entry], Awaitable[Redemption]]:
    async def replay(entry: Entry) -> Redemption:
        query: Document = {"_id": redemption_id} if redemption_id else {"order_id": order_id}
        document = await mongo["redemptions"].find_one(query)
        assert document is not None
        return Redemption.model_validate(document)

    return replay
