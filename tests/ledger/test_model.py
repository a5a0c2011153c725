"""A stateful model test: random sequences of every ledger operation, with the clock moving, run
against the real database and compared after every step with a plain in-memory model.

The model is written independently of app.ledger.book, as simply as the rules can be said:
lots with remaining and held points; an operation first catches the member up with the clock
(pending lots past their window become available, lots past their expiry expire); a failed
operation changes nothing. Only the members an operation or a job touches are caught up, as in
the service, so the stored balances are compared exactly.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from app.clock import FrozenClock
from app.db import Mongo, connect, ensure_indexes
from app.ledger import (
    Balance,
    Hold,
    HoldNotActive,
    InsufficientPoints,
    InvalidPoints,
    LedgerError,
    NextExpiry,
    ReversalExceedsEarn,
    adjust,
    capture,
    clear,
    earn,
    expire_due,
    extend,
    get_balance,
    hold,
    mature_due,
    release,
    release_expired_holds,
    reverse,
    spend,
)
from app.ledger.book import front as fronts
from app.ledger.expiry import Inactivity, Never, Rolling, expires_at, renewal
from tests.ledger.conftest import assert_invariants

if TYPE_CHECKING:
    from tests.conftest import Databases

MEMBERS = ("ann", "bo")
LIVE = ("pending", "available")


@dataclass
class MLot:
    lot_id: str
    entry_id: str
    amount: int
    remaining: int
    status: str
    earned_at: datetime
    available_at: datetime
    expires_at: datetime | None
    inactivity: Inactivity | None
    seq: int
    held: int = 0
    reversed: int = 0
    debt_paid: int = 0
    expired: int = 0
    cleared: int = 0
    refunded_from_lot: int = 0
    refunded_spent: int = 0

    @property
    def free(self) -> int:
        return self.remaining - self.held if self.status in LIVE else 0

    @property
    def spent(self) -> int:
        return self.amount - self.remaining - self.expired - self.cleared - self.refunded_from_lot

    def spending_key(self) -> tuple[Any, ...]:
        """Fixed expiries soonest first, then inactivity points, then never; then oldest."""
        if self.inactivity is not None:
            span = self.inactivity
            name = f"d{span.days:05d}" if span.days else f"m{span.months:04d}"
            return (1, name, self.seq)
        if self.expires_at is None:
            return (2, 0, self.seq)
        return (0, self.expires_at, self.seq)


@dataclass
class MHold:
    hold_id: str
    points: int
    shares: list[tuple[str, int]]
    expires_at: datetime
    status: str = "active"


@dataclass
class MMember:
    lots: dict[str, MLot] = field(default_factory=dict)
    holds: dict[str, MHold] = field(default_factory=dict)
    debt: int = 0
    earned: int = 0
    redeemed: int = 0
    expired: int = 0
    last_activity: datetime | None = None

    def catch_up(self, now: datetime, only: set[str] | None = None) -> None:
        """Mature what is due (paying debt first, soonest-spent first), then expire what is due,
        then release the holds past their TTL (app.ledger.lapse); `only` limits it to some lots
        (a batch job catches up just the lots it found due, and releases no hold)."""
        lots = [lot for lot in self.lots.values() if only is None or lot.lot_id in only]
        for lot in sorted(lots, key=MLot.spending_key):
            if lot.status == "pending" and lot.available_at <= now:
                lot.status = "available"
                pay = min(self.debt, lot.free)
                lot.remaining -= pay
                lot.debt_paid += pay
                self.debt -= pay
                if lot.remaining == 0:
                    lot.status = "exhausted"
        for lot in lots:
            if lot.status in LIVE and lot.expires_at is not None and lot.expires_at <= now:
                self.expired += lot.remaining - lot.held
                lot.expired += lot.remaining - lot.held
                lot.remaining = lot.held
                lot.status = "expired"
        if only is None:  # a member's own book: holds past their TTL give their points back
            for h in self.holds.values():
                if h.status == "active" and h.expires_at <= now:
                    self.close(h, "expired", {})

    def activity(self, now: datetime) -> None:
        self.last_activity = now
        for lot in self.lots.values():
            if lot.status in LIVE and lot.inactivity is not None:
                renewed = renewal(lot.inactivity, now, "UTC")
                if lot.expires_at is None or renewed > lot.expires_at:
                    lot.expires_at = renewed

    def spendable(self) -> list[MLot]:
        lots = [lot for lot in self.lots.values() if lot.status == "available" and lot.free > 0]
        return sorted(lots, key=MLot.spending_key)

    def available(self) -> int:
        return sum(lot.free for lot in self.lots.values() if lot.status == "available")

    def take(self, points: int) -> list[tuple[str, int]]:
        if self.available() < points:
            raise InsufficientPoints(self.available(), points)
        shares = []
        for lot in self.spendable():
            if points == 0:
                break
            n = min(points, lot.free)
            lot.remaining -= n
            if lot.remaining == 0:
                lot.status = "exhausted"
            points -= n
            shares.append((lot.lot_id, n))
        return shares

    def close(self, h: MHold, status: str, consumed: dict[str, int]) -> None:
        for lot_id, reserved in h.shares:
            lot = self.lots[lot_id]
            lot.held -= reserved
            back = reserved - consumed.get(lot_id, 0)
            lot.remaining -= consumed.get(lot_id, 0)
            if lot.status == "expired":
                lot.remaining -= back
                lot.expired += back
                self.expired += back
            elif lot.remaining == 0 and lot.status == "available":
                lot.status = "exhausted"
        h.status = status

    def due(self, job: str, now: datetime) -> bool:
        """Whether a job run at `now` touches this member (and so catches it up)."""
        return any(h.status == "active" and h.expires_at <= now for h in self.holds.values())

    def due_lots(self, job: str, now: datetime) -> set[str]:
        """The lots a batch job finds due (and so loads and catches up)."""
        if job == "expire":
            return {
                lot.lot_id
                for lot in self.lots.values()
                if lot.status in LIVE and lot.expires_at is not None and lot.expires_at <= now
            }
        return {
            lot.lot_id
            for lot in self.lots.values()
            if lot.status == "pending" and lot.available_at <= now
        }

    def balance(self, member_id: str) -> Balance:
        soonest = [
            lot
            for lot in self.lots.values()
            if lot.status == "available" and lot.free > 0 and lot.expires_at is not None
        ]
        first = min((lot.expires_at for lot in soonest), default=None)  # type: ignore[type-var]
        return Balance(
            member_id=member_id,
            available=self.available(),
            pending=sum(lot.remaining for lot in self.lots.values() if lot.status == "pending"),
            held=sum(lot.held for lot in self.lots.values()),
            debt=self.debt,
            lifetime_earned=self.earned,
            lifetime_redeemed=self.redeemed,
            lifetime_expired=self.expired,
            next_expiry=None
            if first is None
            else NextExpiry(first, sum(lot.free for lot in soonest if lot.expires_at == first)),
            last_activity_at=self.last_activity,
        )


POLICIES = st.one_of(
    st.just(Never()),
    st.integers(1, 30).map(lambda d: Rolling(days=d)),
    st.integers(2, 40).map(lambda d: Inactivity(days=d)),
    st.integers(1, 2).map(lambda m: Inactivity(months=m)),
)


class LedgerMachine(RuleBasedStateMachine):
    mongo_url = ""
    databases: Databases

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        # A database from the worker's pool, emptied and handed back after the example (making
        # and dropping one per example cost the server more than the example's own operations).
        self.db_name = self.databases.take()
        self.mongo: Mongo = connect(self.mongo_url, self.db_name)
        self.checked_at_writes = -1  # the database's write count when its invariants last held
        if self.db_name not in self.databases.indexed:
            self.run(ensure_indexes(self.mongo))
        self.clock = FrozenClock(datetime(2026, 1, 15, 9, 0, tzinfo=UTC))
        self.model = {m: MMember() for m in MEMBERS}
        self.earns: list[tuple[str, str]] = []  # (member, earn entry id)
        self.holds: list[tuple[str, str]] = []  # (member, hold id)
        self.seq = 0
        self.last: tuple[Any, Any] | None = None  # the last keyed call and its result, for replays

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.mongo.close())
        self.loop.close()
        self.databases.give_back(self.db_name)

    def key(self) -> str:
        self.seq += 1
        return f"key-{self.seq}"

    def attempt(self, member: str, call: Any, apply: Any, *, touches: bool = True) -> Any:
        """Run the service call and the model's rule on a copy; keep the copy only if both succeed.

        An operation that `touches` the member's book first catches it up with the clock.
        """
        now = self.clock.now()
        trial = copy.deepcopy(self.model[member])
        if touches:
            trial.catch_up(now)
        try:
            expected = apply(trial, now)
        except LedgerError as error:
            expected = error
        try:
            result = self.run(call())
        except LedgerError as error:
            assert type(error) is type(expected), (error, expected)
            if isinstance(error, InsufficientPoints):
                assert isinstance(expected, InsufficientPoints)
                assert (error.available, error.requested) == (
                    expected.available,
                    expected.requested,
                )
            return None
        assert not isinstance(expected, LedgerError), (result, expected)
        self.model[member] = trial
        self.last = (call, result)
        return result, expected

    # -- operations ----------------------------------------------------------------------------

    @rule(
        member=st.sampled_from(MEMBERS),
        points=st.integers(1, 120),
        policy=POLICIES,
        pending_days=st.sampled_from([0, 0, 3]),
    )
    def earn(self, member: str, points: int, policy: Any, pending_days: int) -> None:
        available_at = self.clock.now() + timedelta(days=pending_days) if pending_days else None
        call = partial(
            earn,
            self.mongo,
            self.clock,
            member_id=member,
            points=points,
            policy=policy,
            available_at=available_at,
            idempotency_key=self.key(),
        )

        def apply(m: MMember, now: datetime) -> int:
            pay = min(m.debt, points)
            m.debt -= pay
            m.earned += points
            return pay

        outcome = self.attempt(member, call, apply)
        assert outcome is not None
        entry, pay = outcome
        lot_id = entry.lots[0].lot_id
        m = self.model[member]
        expiry = expires_at(policy, self.clock.now(), "UTC")
        status = "exhausted" if points == pay else ("pending" if available_at else "available")
        m.lots[lot_id] = MLot(
            lot_id,
            entry.id,
            points,
            points - pay,
            status,
            self.clock.now(),
            available_at or self.clock.now(),
            expiry,
            policy if isinstance(policy, Inactivity) else None,
            self.seq,
        )
        if isinstance(policy, Inactivity) and status in LIVE:
            # An inactivity lot joins the live ones of its policy, which expire together at the
            # later of their expiries: one an operator extended carries the new one with it.
            peers = [
                lot.expires_at
                for lot in m.lots.values()
                if lot.lot_id != lot_id
                and lot.inactivity == policy
                and lot.status in LIVE
                and lot.expires_at
            ]
            m.lots[lot_id].expires_at = max([expiry, *peers])
        m.activity(self.clock.now())
        assert entry.debt_change == -pay
        self.earns.append((member, entry.id))

    @rule(member=st.sampled_from(MEMBERS), points=st.integers(1, 150))
    def spend(self, member: str, points: int) -> None:
        call = partial(
            spend,
            self.mongo,
            self.clock,
            member_id=member,
            points=points,
            idempotency_key=self.key(),
        )

        def apply(m: MMember, now: datetime) -> list[tuple[str, int]]:
            shares = m.take(points)
            m.redeemed += points
            m.activity(now)
            return shares

        outcome = self.attempt(member, call, apply)
        if outcome:
            entry, shares = outcome
            assert [(s.lot_id, s.points) for s in entry.lots] == shares

    @rule(
        member=st.sampled_from(MEMBERS),
        points=st.integers(1, 80),
        minutes=st.sampled_from([30, 600, 4000]),
    )
    def hold(self, member: str, points: int, minutes: int) -> None:
        ttl = timedelta(minutes=minutes)
        call = partial(
            hold,
            self.mongo,
            self.clock,
            member_id=member,
            points=points,
            ttl=ttl,
            idempotency_key=self.key(),
        )

        def apply(m: MMember, now: datetime) -> list[tuple[str, int]]:
            if m.available() < points:
                raise InsufficientPoints(m.available(), points)
            shares, left = [], points
            for lot in m.spendable():
                n = min(left, lot.free)
                if n == 0:
                    break
                lot.held += n
                left -= n
                shares.append((lot.lot_id, n))
            return shares

        outcome = self.attempt(member, call, apply)
        if outcome:
            result, shares = outcome
            assert [(s.lot_id, s.points) for s in result.lots] == shares
            self.model[member].holds[result.id] = MHold(
                result.id, points, shares, self.clock.now() + ttl
            )
            self.holds.append((member, result.id))

    @precondition(lambda self: self.holds)
    @rule(pick=st.integers(0, 1000), part=st.sampled_from([None, 1, 2]))
    def capture(self, pick: int, part: int | None) -> None:
        member, hold_id = self.holds[pick % len(self.holds)]
        h = self.model[member].holds[hold_id]
        points = None if part is None else max(1, h.points // (part + 1))
        call = partial(
            capture,
            self.mongo,
            self.clock,
            hold_id=hold_id,
            points=points,
            idempotency_key=self.key(),
        )

        def apply(m: MMember, now: datetime) -> None:
            mh = m.holds[hold_id]
            if mh.status != "active" or mh.expires_at <= now:
                raise HoldNotActive(hold_id, mh.status)
            n = mh.points if points is None else points
            consumed, left = {}, n
            for lot_id, reserved in mh.shares:
                take = min(reserved, left)
                left -= take
                consumed[lot_id] = take
            m.close(mh, "captured", consumed)
            m.redeemed += n
            m.activity(now)

        self.attempt(member, call, apply)

    @precondition(lambda self: self.holds)
    @rule(pick=st.integers(0, 1000))
    def release(self, pick: int) -> None:
        member, hold_id = self.holds[pick % len(self.holds)]

        def apply(m: MMember, now: datetime) -> None:
            mh = m.holds[hold_id]
            if mh.status == "captured":
                raise HoldNotActive(hold_id, mh.status)
            if mh.status == "active":
                m.close(mh, "released", {})

        # Releasing a hold that is already closed reads the hold only: the book is not touched.
        active = self.model[member].holds[hold_id].status == "active"
        call = partial(release, self.mongo, self.clock, hold_id=hold_id)
        self.attempt(member, call, apply, touches=active)

    @precondition(lambda self: self.earns)
    @rule(pick=st.integers(0, 1000), part=st.sampled_from([None, 1, 3]))
    def reverse(self, pick: int, part: int | None) -> None:
        member, entry_id = self.earns[pick % len(self.earns)]
        lot = next(lot for lot in self.model[member].lots.values() if lot.entry_id == entry_id)
        points = None if part is None else max(1, lot.amount // (part + 1))
        call = partial(
            reverse,
            self.mongo,
            self.clock,
            entry_id=entry_id,
            points=points,
            idempotency_key=self.key(),
        )

        def apply(m: MMember, now: datetime) -> int:
            own = m.lots[lot.lot_id]
            n = own.amount - own.reversed if points is None else points
            if n <= 0:
                raise InvalidPoints(n)
            if n > own.amount - own.reversed:
                raise ReversalExceedsEarn(own.amount - own.reversed, n)
            # what is still on the lot, then what was spent of it; expired or cleared is gone
            from_lot = min(n, own.free)
            from_spent = min(n - from_lot, own.spent - own.refunded_spent)
            own.remaining -= from_lot
            if from_lot and own.remaining == 0:
                own.status = "reversed"
            own.refunded_from_lot += from_lot
            own.refunded_spent += from_spent
            own.reversed += n
            others = min(from_spent, m.available())
            if others:
                m.take(others)
            m.debt += from_spent - others
            m.earned -= n
            return from_spent - others

        outcome = self.attempt(member, call, apply)
        if outcome:
            entry, debt = outcome
            assert entry.debt_change == debt

    @rule(member=st.sampled_from(MEMBERS), points=st.integers(-60, 60).filter(bool))
    def adjust(self, member: str, points: int) -> None:
        call = partial(
            adjust,
            self.mongo,
            self.clock,
            member_id=member,
            points=points,
            reason="model",
            actor="staff",
            idempotency_key=self.key(),
        )

        def apply(m: MMember, now: datetime) -> None:
            if points < 0:
                m.take(-points)

        outcome = self.attempt(member, call, apply)
        if outcome and points > 0:
            entry, _ = outcome
            m = self.model[member]
            pay = min(m.debt, points)
            m.debt -= pay
            status = "available" if points > pay else "exhausted"
            m.lots[entry.lots[0].lot_id] = MLot(
                entry.lots[0].lot_id,
                entry.id,
                points,
                points - pay,
                status,
                self.clock.now(),
                self.clock.now(),
                None,
                None,
                self.seq,
            )

    @rule(member=st.sampled_from(MEMBERS))
    def clear(self, member: str) -> None:
        call = partial(
            clear,
            self.mongo,
            self.clock,
            member_id=member,
            reason="model",
            actor="staff",
            idempotency_key=self.key(),
        )

        def apply(m: MMember, now: datetime) -> None:
            for mh in m.holds.values():
                if mh.status == "active":
                    m.close(mh, "released", {})
            for lot in m.lots.values():
                if lot.free > 0:
                    lot.cleared += lot.free
                    lot.remaining = lot.held
                    lot.status = "exhausted"

        self.attempt(member, call, apply)

    @rule(member=st.sampled_from(MEMBERS), days=st.integers(1, 20))
    def extend(self, member: str, days: int) -> None:
        until = self.clock.now() + timedelta(days=days)
        call = partial(
            extend,
            self.mongo,
            self.clock,
            member_id=member,
            until=until,
            reason="model",
            actor="staff",
            idempotency_key=self.key(),
        )

        def apply(m: MMember, now: datetime) -> None:
            for lot in m.lots.values():
                if lot.status in LIVE and lot.expires_at is not None and lot.expires_at < until:
                    lot.expires_at = until

        self.attempt(member, call, apply)

    @precondition(lambda self: self.last is not None)
    @rule()
    def replay(self) -> None:
        assert self.last is not None
        call, result = self.last
        before = {m: self.run(get_balance(self.mongo, m, self.clock.now())) for m in MEMBERS}
        replayed = self.run(call())  # same key (bound when the call was made)
        if isinstance(result, Hold):  # the same hold, as it is now: it may have been closed since
            assert (replayed.id, replayed.points, replayed.lots) == (
                result.id,
                result.points,
                result.lots,
            )
        else:
            assert replayed == result
        after = {m: self.run(get_balance(self.mongo, m, self.clock.now())) for m in MEMBERS}
        assert after == before

    # -- time and jobs -------------------------------------------------------------------------

    @rule(hours=st.integers(1, 24 * 12))
    def advance(self, hours: int) -> None:
        self.clock.advance(timedelta(hours=hours))

    @rule(job=st.sampled_from(["expire", "mature", "holds"]))
    def run_job(self, job: str) -> None:
        now = self.clock.now()
        for m in self.model.values():
            if job != "holds":
                m.catch_up(now, only=m.due_lots(job, now))
                continue
            due = m.due(job, now)
            if due:
                m.catch_up(now)
                if job == "holds":
                    for h in m.holds.values():
                        if h.status == "active" and h.expires_at <= now:
                            m.close(h, "expired", {})
        fn = {"expire": expire_due, "mature": mature_due, "holds": release_expired_holds}[job]
        # One batch: a batch catches up the lots it found due, so the model follows one batch.
        self.run(fn(self.mongo, self.clock, batch_size=10_000))

    # -- checks --------------------------------------------------------------------------------

    @invariant()
    def balances_match_the_model_and_the_invariants_hold(self) -> None:
        for member in MEMBERS:
            stored = self.run(get_balance(self.mongo, member, self.clock.now()))
            # A read is exact at its instant, whatever the jobs did: what is due counts as done
            # (in the read only: the model, like the stored books, catches up when touched).
            caught_up = copy.deepcopy(self.model[member])
            caught_up.catch_up(self.clock.now())
            expected = caught_up.balance(member)
            got = (
                stored.available,
                stored.pending,
                stored.held,
                stored.debt,
                stored.lifetime_earned,
                stored.lifetime_redeemed,
                stored.lifetime_expired,
                stored.next_expiry,
            )
            want = (
                expected.available,
                expected.pending,
                expected.held,
                expected.debt,
                expected.lifetime_earned,
                expected.lifetime_redeemed,
                expected.lifetime_expired,
                expected.next_expiry,
            )
            assert got == want, (member, got, want)
        # The documents' own invariants (and `verify`) read every collection whole: after a step
        # that wrote nothing (time moved, a refusal, a replay) they are the documents last checked.
        writes = self.databases.writes_to(self.db_name)
        if writes != self.checked_at_writes:
            self.run(assert_invariants(self.mongo))
            self.checked_at_writes = writes


@pytest.mark.parametrize("front", [(fronts.FRONT_SIZE, fronts.FRONT_LOW), (3, 2)], ids=str)
def test_the_ledger_agrees_with_a_simple_model_under_random_operations(
    mongo_url: str, databases: Databases, front: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A small front makes every other operation read further along the spending order.
    monkeypatch.setattr(fronts, "FRONT_SIZE", front[0])
    monkeypatch.setattr(fronts, "FRONT_LOW", front[1])
    # No shrink phase: every example runs against the real server, so shrinking would take
    # minutes; a failure prints its whole (at most 30-step) sequence instead.
    LedgerMachine.mongo_url = mongo_url
    LedgerMachine.databases = databases
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=30,
            deadline=None,
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
