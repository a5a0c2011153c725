"""Erasing a member: the member document first, then every copy of their personal data.

Where a member's personal data is copied, and what erasure does there (every collection of
app/db.py was looked at; tests/api/test_erasure.py searches them all):
- members: pseudonymised in one transaction with the audit entry (app/members/erase.py), which
  also records in `erasures` what is left to find: the values removed and the older ones the
  audit log recorded (a phone changed since).
- audit: the entries about the member and their redemptions, their personal fields whole and
  their data wherever else it is written (an operator's reason that names them).
- redemptions: a cancellation's reason.
- ledger, holds: the text of their entries (an adjustment's reason); points untouched.
- notifications, outbox, push_devices: text redacted, device tokens removed, pushes not yet
  delivered dead-lettered, device bindings deleted.
- messages, message_preferences: the delivery records' text, addresses and devices redacted,
  those not sent dead-lettered; the preferences deleted (app/messaging/forget.py).
- events, webhook_events, webhook_deliveries: the text of the member's events and of the bodies
  to send redacted, ids and points kept (app/webhooks/forget.py).
- refresh_tokens: deleted. login_attempts, login_locks: those kept under their phones deleted.
- import_jobs, import_parts: their rows in stored uploads blanked, their phones and e-mails in
  refused rows' messages redacted (app/importer/forget.py).
- Only the member's id, kept for the books and the reports: accounts (with their tier progress),
  lots, draw_entries, reward_claims, tier_changes, check_ins, activity_counts, earn_facts, orders,
  refunds, order_points, points_job_members, import_chunks, rate_limits (`mutations:<id>`;
  sign-ups are counted by blocks of phone numbers, no one's whole number).
Hashes that stay, for idempotency: a partner purchase's request hash (on its entry and order)
covers the member reference the till sent, perhaps their phone, together with the whole order, so
only the partner who sent it could confirm it; an upload's request hash covers its whole file.
Not searched: what clients choose as identifiers (idempotency keys, a partner's order ids and
SKUs), which must stay as given to be recognised; client addresses in the sign-in and sign-up
throttles, which name no member and expire within the hour. Outside the database: the
application's logs name members by id, never by their data.

A member erased before erasures were recorded had only their member document erased:
eraseMember again redacts what the audit log still holds of them (an operator's create or
update) and every copy of those values; what else was copied cannot be told apart any more.

Every step after the first is idempotent and the record in `erasures` is deleted last, so an
erasure cut off half-way (the database gone, the process killed) is finished by the next
eraseMember of the member, or by the worker once UNFINISHED_AFTER has passed.
"""

from __future__ import annotations

from datetime import timedelta

from app.audit import redact_audit
from app.auth import forget_phones, forget_sessions
from app.clock import Clock
from app.db import Document, Mongo
from app.importer import forget_uploads
from app.ledger import redact_entries
from app.members import Member, begin_erasure, end_erasure, unfinished_erasures
from app.messaging import forget_messages
from app.notifications import forget_notifications
from app.personal_data import PersonalData
from app.rewards import redact_redemptions
from app.webhooks import forget_events

UNFINISHED_AFTER = timedelta(minutes=5)  # an erasure request older than this was cut off
BATCH = 10


async def erase_member(
    mongo: Mongo, clock: Clock, member_id: str, *, reason: str, actor: str
) -> Member:
    """Pseudonymise the member, end their access and redact every copy of their data; a second
    erasure changes nothing, or finishes one that was cut off."""
    member, left = await begin_erasure(mongo, clock, member_id, reason=reason, actor=actor)
    if left is not None:
        await _redact_copies(mongo, left)
    return member


async def finish_erasures(mongo: Mongo, clock: Clock) -> tuple[int, bool]:
    """The worker's pass: finish erasures cut off before UNFINISHED_AFTER; (how many, more?)."""
    left = await unfinished_erasures(mongo, clock.now() - UNFINISHED_AFTER, BATCH + 1)
    for erasure in left[:BATCH]:
        await _redact_copies(mongo, erasure)
    return min(len(left), BATCH), len(left) > BATCH


async def _redact_copies(mongo: Mongo, left: Document) -> None:
    member_id: str = left["_id"]
    personal = PersonalData.of(
        names=left["names"],
        phones=left["phones"],
        emails=left["emails"],
        birthdays=left["birthdays"],
        tokens=left["tokens"],
    )
    redemptions = await redact_redemptions(mongo, member_id, personal)
    targets = [f"member:{member_id}", *(f"redemption:{id_}" for id_ in redemptions)]
    await redact_audit(mongo, targets, personal)
    await redact_entries(mongo, member_id, personal)
    await forget_notifications(mongo, member_id, personal)
    await forget_messages(mongo, member_id, personal)
    await forget_events(mongo, member_id, personal)
    await forget_sessions(mongo, member_id)
    await forget_phones(mongo, personal.phones)
    await forget_uploads(mongo, personal, left.get("legacy_id"))
    await end_erasure(mongo, member_id)
