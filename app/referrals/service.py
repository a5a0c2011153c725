"""Referrals: each member's code and link, a sign-up that names a code, and both members rewarded
once the referred member's first qualifying purchase has matured.

- **Codes.** A member's code (8 characters of Crockford's base32, no I L O U) is made the first
  time it is asked for and kept in `referral_codes` (`_id` the code, unique by construction).
- **Sign-up.** `signUp(input: {referralCode})` checks the code before anything is written
  (`InvalidReferralCode`), then keeps `referrals` `{_id: the referred member, referrer_id, ...}`
  with status `signed_up`; the member document is marked `referred_by`, so a purchase of a member
  nobody referred reads nothing more.
- **Qualifying.** The referred member's first purchase that earns points and spends at least
  `min_spend` (in its own transaction: `qualify_referral`) makes the referral `pending`, with the
  order and the instant its points mature (the return window's end, or at once).
- **Rewarding.** The worker's `referrals` job takes the pending referrals whose instant has
  passed: a refund of any part of the order meanwhile cancels it (`cancelled`); referrer and
  referred having held one push device is a ring (`refused`); past `max_per_month` rewards of the
  referrer in the local month only the referred member earns (`limited`); else both earn
  (`rewarded`). Each earn goes through the ledger's public API under a key of its own
  (`referral:<referred>:referrer|referred`), so a job cut off half-way and run again never pays
  twice; the status is set last.
- **Report.** `referral_report`: invited (codes made), signed up, pending, rewarded, limited,
  cancelled, refused, and the points paid.

A member cannot name their own code (their own sign-up is the only one that could, and they have
none yet); payment fingerprints are not compared (no partner sends one today).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from app.clock import Clock
from app.db import Document, Mongo
from app.ledger import Entry, LedgerUnit, Never, run_in_ledger
from app.program import Program, Purchase

CODES, REFERRALS = "referral_codes", "referrals"
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32
CODE_LENGTH = 8
BATCH = 100

SIGNED_UP, PENDING, REWARDED, LIMITED, CANCELLED, REFUSED = (
    "signed_up",
    "pending",
    "rewarded",
    "limited",
    "cancelled",
    "refused",
)


class InvalidReferralCode(ValueError):
    """The referral code is malformed or names no member; `field` is the input's."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.field = "referral_code"


def normalise_code(raw: str) -> str:
    """The code as stored: upper case, Crockford's look-alikes folded (I, L to 1; O to 0)."""
    cleaned = raw.strip().upper().replace("-", "")
    folded = cleaned.translate(str.maketrans("ILO", "110"))
    if len(folded) != CODE_LENGTH or any(c not in ALPHABET for c in folded):
        raise InvalidReferralCode(f"a referral code is {CODE_LENGTH} letters and digits")
    return folded


async def referral_code_of(mongo: Mongo, member_id: str) -> str:
    """The member's code, made the first time it is asked for."""
    found = await mongo[CODES].find_one({"member_id": member_id}, {"_id": 1})
    if found is not None:
        return str(found["_id"])
    for _ in range(8):
        code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        try:
            await mongo[CODES].insert_one({"_id": code, "member_id": member_id})
            return code
        except DuplicateKeyError:
            again = await mongo[CODES].find_one({"member_id": member_id}, {"_id": 1})
            if again is not None:  # made meanwhile by a concurrent request of the member's
                return str(again["_id"])
    raise RuntimeError("no free referral code after 8 draws")


async def referrer_of(mongo: Mongo, raw_code: str) -> str:
    """The member a code names; InvalidReferralCode when none (checked before a sign-up writes)."""
    code = normalise_code(raw_code)
    found = await mongo[CODES].find_one({"_id": code})
    if found is None:
        raise InvalidReferralCode("no member has this referral code")
    return str(found["member_id"])


async def link_referral(
    mongo: Mongo, clock: Clock, *, referred_id: str, referrer_id: str, code: str
) -> None:
    """Keep who referred the new member (after their sign-up wrote them)."""
    now = clock.now()
    await mongo[REFERRALS].insert_one(
        {
            "_id": referred_id,
            "referrer_id": referrer_id,
            "code": normalise_code(code),
            "status": SIGNED_UP,
            "signed_up_at": now,
        }
    )
    await mongo["members"].update_one({"_id": referred_id}, {"$set": {"referred_by": referrer_id}})


async def qualify_referral(
    mongo: Mongo,
    session: AsyncClientSession,
    program: Program,
    *,
    member_id: str,
    referred: bool,
    purchase: Purchase,
    points: int,
    order_key: str,
    matures_at: datetime,
) -> None:
    """Inside a purchase's transaction: the referred member's first purchase that earns points
    and spends at least the program's minimum makes their referral pending (one command, only for
    a referred member while the program has referrals)."""
    rules = program.referrals
    if rules is None or not referred or points <= 0:
        return
    if purchase.total < rules.min_spend:
        return
    await mongo[REFERRALS].update_one(
        {"_id": member_id, "status": SIGNED_UP},
        {"$set": {"status": PENDING, "order": order_key, "matures_at": matures_at}},
        session=session,
    )


@dataclass(frozen=True, slots=True)
class ReferralRun:
    settled: int
    done: bool


async def settle_referrals(
    mongo: Mongo, clock: Clock, program: Program, *, batch_size: int = BATCH
) -> ReferralRun:
    """The worker's pass: settle the pending referrals whose purchase has matured (see above)."""
    rules = program.referrals
    now = clock.now()
    due = (
        await mongo[REFERRALS]
        .find({"status": PENDING, "matures_at": {"$lte": now}})
        .sort("matures_at", 1)
        .limit(batch_size)
        .to_list()
    )
    for referral in due:
        status = await _decide(mongo, program, referral, now)
        paid = 0
        if status in (REWARDED, LIMITED) and rules is not None:
            paid += await _pay(mongo, clock, referral["_id"], "referred", rules.referred_points)
            if status == REWARDED:
                paid += await _pay(
                    mongo,
                    clock,
                    referral["_id"],
                    "referrer",
                    rules.referrer_points,
                    member_id=referral["referrer_id"],
                )
        month = program.local_date(now).strftime("%Y-%m")
        await mongo[REFERRALS].update_one(
            {"_id": referral["_id"], "status": PENDING},
            {"$set": {"status": status, "settled_at": now, "month": month, "points_paid": paid}},
        )
    return ReferralRun(len(due), len(due) < batch_size)


async def _decide(mongo: Mongo, program: Program, referral: Document, now: datetime) -> str:
    rules = program.referrals
    if rules is None:
        return CANCELLED
    order = await mongo["orders"].find_one({"_id": referral["order"]})
    refunded = order is None or any(
        int(line.get("refunded_quantity", 0)) > 0 or Decimal(line.get("refunded_amount", "0")) > 0
        for line in order.get("lines", [])
    )
    if refunded:
        return CANCELLED
    both = {"$and": [{"holders": referral["referrer_id"]}, {"holders": referral["_id"]}]}
    if await mongo["push_devices"].find_one(both, {"_id": 1}) is not None:
        return REFUSED  # one device held by both: a ring
    month = program.local_date(now).strftime("%Y-%m")
    rewarded = await mongo[REFERRALS].count_documents(
        {"referrer_id": referral["referrer_id"], "status": REWARDED, "month": month}
    )
    return REWARDED if rewarded < rules.max_per_month else LIMITED


async def _pay(
    mongo: Mongo,
    clock: Clock,
    referred_id: str,
    side: str,
    points: int,
    member_id: str | None = None,
) -> int:
    if points <= 0:
        return 0
    key = f"referral:{referred_id}:{side}"
    description = "Referral reward" if side == "referrer" else "Welcome reward: joined by referral"

    async def credit(unit: LedgerUnit) -> Entry:
        return await unit.earn(
            member_id or referred_id,
            points,
            policy=Never(),
            reference=referred_id,
            description=description,
            actor="referrals",
        )

    async def replay(first: Entry) -> Entry:
        return first

    await run_in_ledger(mongo, clock, credit, idempotency_key=key, fingerprint=key, replay=replay)
    return points


@dataclass(frozen=True, slots=True)
class ReferralStats:
    invited: int  # codes made (members who asked for theirs)
    signed_up: int
    pending: int
    rewarded: int
    limited: int
    cancelled: int
    refused: int
    points_paid: int


async def referral_report(mongo: Mongo, referrer_id: str | None = None) -> ReferralStats:
    """Counts by status and the points paid, of one referrer or of everyone."""
    match: Document = {} if referrer_id is None else {"referrer_id": referrer_id}
    counts: dict[str, int] = {}
    paid = 0
    pipeline: list[Any] = [
        {"$match": match},
        {"$group": {"_id": "$status", "n": {"$sum": 1}, "paid": {"$sum": "$points_paid"}}},
    ]
    async for row in await mongo[REFERRALS].aggregate(pipeline):
        counts[row["_id"]] = int(row["n"])
        paid += int(row.get("paid") or 0)
    invited_query: Document = {} if referrer_id is None else {"member_id": referrer_id}
    return ReferralStats(
        invited=await mongo[CODES].count_documents(invited_query),
        signed_up=sum(counts.values()),
        pending=counts.get(PENDING, 0),
        rewarded=counts.get(REWARDED, 0),
        limited=counts.get(LIMITED, 0),
        cancelled=counts.get(CANCELLED, 0),
        refused=counts.get(REFUSED, 0),
        points_paid=paid,
    )
