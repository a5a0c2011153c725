"""recordPurchase and previewEarn: a partner's purchase through the rules engine into the ledger.

One transaction per purchase (app.ledger.run_in_ledger): the member's facts (daily cap, birthday)
and the budgets of the campaigns that would give points are read (only when the program has
them), the rules engine computes the breakdown, the budgets are spent conditionally
(app.partners.budgets), the ledger earns the total with the breakdown on the entry, under the
expiry policy of the member's tier, counted from when the purchase happened, pending until the
return window after it closes; last, the order is written under its unique id
`<partner>:<order id>` with what each line earned, for its refunds: an upsert that fills in the
binding a hold or capture of the member's points left there (app.partners.payments.claim_order)
and fails on the `_id` when the order id is posted already or bound to another member
(OrderOfAnotherMember), at no command more than an insert. The tier is the one the member held
when the purchase happened (app.members.tiers.as_of: a purchase posted late earns at that tier's
multiplier and expiry). A budget counts what a campaign gave before any cap cut the
order (a cap never makes a campaign overspend).

Idempotent on (partner, order id): a replay fails on the order's unique id (or, with points, on
the EARN entry's key) and gets the first result; another payload under the order id is
IdempotencyConflict. The payload is compared as resolved, the member by id: an order posted by
phone and retried by member number is the same order. Two tills posting one order at once: one
commits, the other's transaction conflicts, reruns, finds the order and answers the same result.

Cost for a program without budgets, daily cap or birthday bonus: the member (read by the API with
the partner's registry entry, in one command), the account (read and moved by the earn in one
command, app.ledger.express, with the qualifying points, a tally on it: app.members.tiers), the
lot and entry inserts, the order's upsert, the commit: 6 commands a request (the program is the
process's copy), whatever the member's history.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from app.challenges import advance
from app.clock import Clock
from app.db import Mongo
from app.ledger import (
    MAX_ENTRY_POINTS,
    BreakdownLine,
    Entry,
    LedgerUnit,
    Tally,
    member_entry,
    run_in_ledger,
)
from app.ledger import IdempotencyConflict as LedgerConflict
from app.members import Member, MemberSuspended, as_of, qualify, qualifying_tally
from app.partners import budgets, facts
from app.partners.campaign_results import record_results
from app.partners.errors import (
    IdempotencyConflict,
    InvalidPartnerInput,
    OrderOfAnotherMember,
    PartnerRefused,
    PointsLimit,
)
from app.partners.members import check_active, find_member
from app.partners.orders import BOUND, POSTED, Order, OrderFacts, order_document, order_id_of
from app.partners.payments import captured_for, once_more_if_freed
from app.partners.purchase_input import (
    PurchaseRequest,
    check_occurred_at,
    check_purchase,
    fingerprint,
)
from app.program import (
    EarnResult,
    MemberFacts,
    Program,
    Purchase,
    compute_earn,
    current_program,
    issue_terms,
)
from app.referrals import qualify_referral


@dataclass(frozen=True, slots=True)
class PurchaseResult:
    order: Order
    entry: Entry | None  # None when the purchase earned nothing


async def compute_with_facts(
    mongo: Mongo,
    session: AsyncClientSession | None,
    program: Program,
    member: Member,
    purchase: Purchase,
    explain: bool = False,
) -> tuple[EarnResult, MemberFacts]:
    """The breakdown (and the member's facts it read), with what is left of the budgets of the campaigns that would give points
    (`explain`: with every condition checked, for previewEarn).

    PointsLimit when it comes to more than one entry may hold, or when one row of its breakdown
    does (a cap that brings a 10^12 purchase down to its daily bound would keep a base row of 10^12
    points, a figure no read can show): refused before anything is spent."""
    member_facts = await facts.member_facts(mongo, session, program, member, purchase)
    unbounded = compute_earn(program, purchase, member_facts, explain=explain)
    limits = budgets.budgeted(program, unbounded.campaign_points)
    result = unbounded
    if limits:
        left = await budgets.remaining(mongo, session, limits)
        result = compute_earn(
            program, purchase, member_facts, campaign_remaining=left, explain=explain
        )
    if result.total > MAX_ENTRY_POINTS:
        raise PointsLimit(
            f"the purchase would earn {result.total} points, more than the {MAX_ENTRY_POINTS} "
            "one purchase may earn"
        )
    largest = max((abs(row.points) for row in result.rows), default=0)
    if largest > MAX_ENTRY_POINTS:
        raise PointsLimit(
            f"one rule of the purchase would give {largest} points before the caps, more than "
            f"the {MAX_ENTRY_POINTS} one entry may hold"
        )
    return result, member_facts


async def compute(
    mongo: Mongo,
    session: AsyncClientSession | None,
    program: Program,
    member: Member,
    purchase: Purchase,
    explain: bool = False,
) -> EarnResult:
    """compute_with_facts's breakdown alone."""
    result, _ = await compute_with_facts(mongo, session, program, member, purchase, explain)
    return result


async def named_member(
    mongo: Mongo, request: PurchaseRequest, member: Member | PartnerRefused | None
) -> Member:
    """The member the request names, as the caller read it (or refused it), else read now."""
    if isinstance(member, PartnerRefused):
        raise member
    return member or await find_member(mongo, request.member, active=False)


async def preview_earn(
    mongo: Mongo,
    clock: Clock,
    request: PurchaseRequest,
    *,
    member: Member | PartnerRefused | None = None,
    partner_id: str | None = None,
) -> tuple[Member, EarnResult]:
    """What record_purchase would give now, without writing anything (`member` as there;
    `partner_id`: the partner asking, a fact conditions may read)."""
    program = await current_program(mongo)
    purchase = replace(check_purchase(request), partner=partner_id)
    check_occurred_at(purchase, program, clock.now())
    member = await named_member(mongo, request, member)
    member = await as_of(mongo, member, purchase.occurred_at)
    return member, await compute(mongo, None, program, member, purchase, explain=True)


async def record_purchase(
    mongo: Mongo,
    clock: Clock,
    partner_id: str,
    request: PurchaseRequest,
    *,
    member: Member | PartnerRefused | None = None,
) -> PurchaseResult:
    """`member`: the member `request.member` names, or the refusal of the reference, when the
    caller read it already (with the partner's registry entry: partner_and_member). An order id a
    hold of another member's points left bound, unpaid, is given up and the purchase posted again
    (payments.once_more_if_freed)."""
    program = await current_program(mongo)
    purchase = replace(check_purchase(request), partner=partner_id)
    order_id = request.order_id.strip()
    order_key = order_id_of(partner_id, order_id)
    member = await named_member(mongo, request, member)
    digests = (fingerprint(request, purchase, member.id), fingerprint(request, purchase, None))
    digest = digests[0]
    try:
        check_occurred_at(purchase, program, clock.now())
        check_active(member)
    except (InvalidPartnerInput, MemberSuspended):
        # A retry after the member was suspended, or days later: the first result still stands.
        if await mongo["orders"].find_one({"_id": order_key, **POSTED}, {"_id": 1}) is None:
            raise
        return await first_result(mongo, order_key, member.id, digests)
    member = await as_of(mongo, member, purchase.occurred_at)

    async def work(unit: LedgerUnit) -> PurchaseResult:
        if request.points_used:
            await check_points_used(mongo, unit.session, order_key, member.id, request.points_used)
        result, known = await compute_with_facts(mongo, unit.session, program, member, purchase)
        result = await advance(mongo, unit.session, program, known, purchase, result, unit.now)
        await budgets.spend(mongo, unit.session, program, result.campaign_points)
        await facts.record_facts(mongo, unit.session, program, member.id, purchase, result)
        await record_results(mongo, unit.session, program, member.id, purchase, result, unit.now)
        counted = qualifying_tally(program, unit.now, points=result.total, at=purchase.occurred_at)
        entry, available_at = await earn(
            unit, program, member, purchase, request, result, partner_id, counted
        )
        await qualify_referral(
            mongo,
            unit.session,
            program,
            member_id=member.id,
            referred=member.referred_by is not None,
            purchase=purchase,
            points=result.total,
            order_key=order_key,
            matures_at=available_at or unit.now,
        )
        if entry is not None and counted is not None:
            await qualify(
                mongo,
                unit.session,
                unit.now,
                program,
                member_id=member.id,
                progress=unit.tallied(member.id, counted.name),
                entry_id=entry.id,
            )
        order = order_document(
            OrderFacts(order_key, partner_id, member.id, digest, unit.now),
            request,
            purchase,
            result,
            entry,
            available_at,
        )
        # Fills in the member's own binding (a hold or capture for the order: claim_order), else
        # inserts: an order id posted already, or bound to another member, fails on its `_id`.
        await mongo["orders"].replace_one(
            {"_id": order_key, "member_id": member.id, **BOUND},
            order,
            upsert=True,
            session=unit.session,
        )
        return PurchaseResult(Order.from_document(order), entry)

    async def replay(first: Entry) -> PurchaseResult:
        return await first_result(mongo, order_key, member.id, digests)

    async def attempt() -> PurchaseResult:
        try:
            return await run_in_ledger(
                mongo,
                clock,
                work,
                idempotency_key=f"partner:{order_key}",
                fingerprint=digest,
                replay=replay,
                require_entry=False,
            )
        except (LedgerConflict, DuplicateKeyError):
            # Another payload, the first payload as an older order kept its fingerprint, or an
            # order id bound to another member.
            return await first_result(mongo, order_key, member.id, digests)

    return await once_more_if_freed(mongo, clock, partner_id, order_id, attempt)


async def earn(
    unit: LedgerUnit,
    program: Program,
    member: Member,
    purchase: Purchase,
    request: PurchaseRequest,
    result: EarnResult,
    partner_id: str,
    counted: Tally | None,
) -> tuple[Entry | None, datetime | None]:
    """The EARN entry (None for nothing earned) and when its points become available; the
    qualifying points `counted` move on the account with the points."""
    terms = issue_terms(program, member.tier)
    window = terms.return_window
    available_at = purchase.occurred_at + window if window else None
    if result.total <= 0:
        return None, None
    entry = await unit.earn(
        member.id,
        result.total,
        policy=terms.policy,
        policy_version=terms.policy_version,
        tz=terms.tz,
        available_at=available_at,
        earned_at=purchase.occurred_at,
        breakdown=[
            BreakdownLine(row.rule, row.description, row.points, row.line_id, row.version)
            for row in result.rows
        ],
        reference=request.order_id.strip(),
        description=f"Purchase {request.order_id.strip()}",
        actor=f"partner:{partner_id}",
        channel=purchase.channel,
        tally=counted,
        extra=None if purchase.store is None else {"store": purchase.store},  # reports by store
    )
    return entry, available_at


async def check_points_used(
    mongo: Mongo,
    session: AsyncClientSession,
    order_key: str,
    member_id: str,
    points_used: int,
) -> None:
    """Points said to have paid for the order must have been captured for it by this partner,
    from this member: a refund gives them back, so they must not be more than the member really
    paid (another member's captures are OrderOfAnotherMember)."""
    captured = await captured_for(mongo, session, order_key, member_id)
    if points_used > captured:
        raise InvalidPartnerInput(
            f"pointsUsed {points_used} exceeds the {captured} points captured for this order",
            ("points_used",),
        )


async def first_result(
    mongo: Mongo, order_key: str, member_id: str, digests: tuple[str, ...]
) -> PurchaseResult:
    """The order as first posted, for a replay; a binding (not posted: payments.claim_order) of
    another member's is OrderOfAnotherMember."""
    document = await mongo["orders"].find_one({"_id": order_key})
    if document is not None and "request_hash" not in document:
        if document["member_id"] != member_id:
            raise OrderOfAnotherMember()
        document = None
    if document is None:
        raise InvalidPartnerInput("the order could not be recorded; retry", ("order_id",))
    if document["request_hash"] not in digests:
        raise IdempotencyConflict("this order id was posted with another payload", ("order_id",))
    entry = None
    if document.get("entry_id"):
        entry = await member_entry(mongo, document["member_id"], document["entry_id"])
    return PurchaseResult(Order.from_document(document), entry)
