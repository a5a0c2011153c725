"""What the SMS providers push back, applied: delivery reports move a sent SMS to `delivered` or
`failed`, and a member's STOP reply (回T退订) opts them out of marketing SMS.

The routes (`sms_callback_endpoint`, mounted at `/hooks/sms/{aliyun|tencent}/{report|reply}`)
take the provider's JSON (app/channels/sms_callbacks.py reads it). Neither provider signs its
callbacks, so the URL the brand configures in the provider's console carries a secret,
`?token=<JIFEN_SMS_CALLBACK_TOKEN>`, compared in constant time; without the setting, or with
another token, the routes answer 404. A body is bounded (MAX_CALLBACK_BYTES, MAX_CALLBACK_ITEMS)
before it is parsed. Each route answers as its provider documents, since a provider pushes a
batch again until it is acknowledged: Alibaba `{"code": 0, "msg": "成功"}`, Tencent
`{"result": 0, "errmsg": "OK"}`.

A report is matched to its message by the provider's id (`provider_id`, Alibaba's BizId,
Tencent's SerialNo, the callback's `biz_id` / `sid`) and its transport, and changes only a
message still `sent`: a report pushed again, or for an id we never sent, changes nothing.

A reply is recorded once in `sms_replies` under `<provider>:<reply id>` (Alibaba's
`sequence_id`; Tencent gives none: its phone, time and text), with the member its phone belongs
to. An unsubscribe word (app/channels `is_unsubscribe`) adds the member's SMS opt-out of every
marketing kind, the same opt-out `updateNotificationPreferences` writes, with its source in
`opt_out_sources` and an audit entry (actor `sms-reply:<provider>`, action `message.sms_stop`),
in one transaction with the reply's record: a reply pushed again finds its record and does
nothing. A reply from a phone of no member is recorded and changes nothing.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from app.audit import record_audit
from app.channels import (
    MAX_CALLBACK_BYTES,
    CallbackRefused,
    SmsReply,
    SmsReport,
    aliyun_replies,
    aliyun_reports,
    tencent_replies,
    tencent_reports,
)
from app.clock import Clock
from app.db import Document, Mongo
from app.messaging.kinds import MARKETING, Channel
from app.messaging.preferences import OptOut, opt_out
from app.messaging.records import Reason, Status

REPLIES = "sms_replies"


@dataclass(frozen=True)
class Applied:
    """What a callback changed: `applied` reports or opt-outs, `ignored` the rest."""

    applied: int
    ignored: int


async def record_reports(mongo: Mongo, clock: Clock, reports: Sequence[SmsReport]) -> Applied:
    """Each report moves its message from `sent` to `delivered` or `failed` (one command)."""
    if not reports:
        return Applied(0, 0)
    now = clock.now()
    updates = []
    for report in reports:
        receipt = {"code": report.code, "detail": report.detail, "at": report.at or now}
        if report.delivered:
            changes: Document = {
                "status": Status.DELIVERED.value,
                "delivered_at": report.at or now,
                "receipt": receipt,
            }
        else:
            changes = {
                "status": Status.FAILED.value,
                "reason": Reason.NOT_DELIVERED.value,
                "error_code": report.code or None,
                "error": report.detail or None,
                "failed_at": report.at or now,
                "receipt": receipt,
            }
        updates.append(
            UpdateOne(
                {
                    "provider_id": report.provider_id,
                    "transport": report.provider,
                    "channel": Channel.SMS.value,
                    "status": Status.SENT.value,
                },
                {"$set": changes},
            )
        )
    result = await mongo["messages"].bulk_write(updates, ordered=False)
    return Applied(result.modified_count, len(reports) - result.modified_count)


async def record_replies(mongo: Mongo, clock: Clock, replies: Sequence[SmsReply]) -> Applied:
    """Record each reply once; an unsubscribe word from a member's phone opts them out of
    marketing SMS."""
    applied = 0
    for reply in replies:
        if await _record_reply(mongo, clock, reply):
            applied += 1
    return Applied(applied, len(replies) - applied)


async def _record_reply(mongo: Mongo, clock: Clock, reply: SmsReply) -> bool:
    member = await mongo["members"].find_one({"phone": reply.phone}, {"_id": 1})
    member_id = None if member is None else str(member["_id"])
    now = clock.now()
    stops = reply.unsubscribes and member_id is not None
    record: Document = {
        "_id": f"{reply.provider}:{reply.reply_id}",
        "provider": reply.provider,
        "phone": reply.phone,
        "text": reply.text,
        "sign_name": reply.sign_name,
        "sent_at": reply.at,
        "received_at": now,
        "member_id": member_id,
        "action": "opted_out" if stops else ("no_member" if member_id is None else "none"),
    }

    async def work(session: AsyncClientSession) -> bool:
        await mongo[REPLIES].insert_one(record, session=session)
        if not stops or member_id is None:
            return False
        source = {
            "source": "sms_reply",
            "provider": reply.provider,
            "reply_id": record["_id"],
            "text": reply.text,
            "at": reply.at or now,
        }
        for kind in sorted(MARKETING):
            await opt_out(
                mongo, clock, member_id, OptOut(Channel.SMS, kind), source=source, session=session
            )
        await record_audit(
            mongo,
            clock,
            actor=f"sms-reply:{reply.provider}",
            action="message.sms_stop",
            target=f"member:{member_id}",
            after={"channel": Channel.SMS.value, "kinds": sorted(k.value for k in MARKETING)},
            note=f"replied {reply.text!r} ({record['_id']})",
            session=session,
        )
        return True

    try:
        return await mongo.transaction(work)
    except DuplicateKeyError:
        return False  # pushed again: recorded (and acted on) the first time


# provider -> what it posts to each route, and how it wants to be answered
_READERS: dict[str, dict[str, Callable[[bytes], Sequence[Any]]]] = {
    "aliyun": {"report": aliyun_reports, "reply": aliyun_replies},
    "tencent": {"report": tencent_reports, "reply": tencent_replies},
}


def _answer(provider: str, ok: bool, message: str = "", status: int = 200) -> JSONResponse:
    if provider == "aliyun":
        body: Document = {"code": 0, "msg": "成功"} if ok else {"code": 1, "msg": message}
    else:
        body = {"result": 0, "errmsg": "OK"} if ok else {"result": 1, "errmsg": message}
    return JSONResponse(body, status_code=status, headers={"cache-control": "no-store"})


def _token_matches(request: Request, expected: str | None) -> bool:
    if not expected:
        return False
    given = request.query_params.get("token", "")
    return hmac.compare_digest(given.encode(), expected.encode())


async def _bounded_body(request: Request) -> bytes | None:
    """The body, or None past MAX_CALLBACK_BYTES (read no further than the bound)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_CALLBACK_BYTES):
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_CALLBACK_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def sms_callback_endpoint(request: Request) -> JSONResponse:
    """POST /hooks/sms/{provider}/{report|reply}?token=…"""
    runtime: Any = request.app.state.runtime
    provider = str(request.path_params["provider"])
    readers = _READERS.get(provider, {})
    read = readers.get(str(request.path_params["kind"]))
    secret = runtime.settings.sms_callback_token
    expected = secret.get_secret_value() if secret is not None else None
    if read is None or not _token_matches(request, expected):
        return JSONResponse({"error": "not found"}, status_code=404)
    try:
        body = await _bounded_body(request)
    except ClientDisconnect:
        return _answer(provider, False, "the body did not arrive", status=400)
    if body is None:
        return _answer(provider, False, f"at most {MAX_CALLBACK_BYTES} bytes", status=413)
    try:
        items = read(body)
    except CallbackRefused as exc:
        return _answer(provider, False, str(exc), status=400)
    if request.path_params["kind"] == "report":
        await record_reports(runtime.mongo, runtime.clock, items)
    else:
        await record_replies(runtime.mongo, runtime.clock, items)
    return _answer(provider, True)
