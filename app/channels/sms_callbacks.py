"""What the SMS providers push back: delivery reports and members' replies, read from the JSON
each provider documents into plain values (`SmsReport`, `SmsReply`). No database here: the
domain (app/messaging/callbacks.py) matches them to its records.

| Provider | Delivery reports | Replies |
| --- | --- | --- |
| Alibaba Cloud | SmsReport: a JSON array of `{phone_number, success, err_code, err_msg, biz_id, out_id, send_time, report_time, sms_size}` | SmsUp: a JSON array of `{phone_number, content, send_time, sign_name, dest_code, sequence_id}` |
| Tencent Cloud | status callback: a JSON array of `{mobile, nationcode, report_status (SUCCESS/FAIL), errmsg, description, sid, user_receive_time}` | reply callback: one object, or an array, of `{mobile, nationcode, text, sign, extend, reply_time or time}` |

Both providers write their times as `YYYY-MM-DD HH:MM:SS` in Beijing time (UTC+8, no daylight
saving), Tencent's reply also as a Unix `time`. Neither signs a callback, so the URL carries a
secret (app/messaging). A body is refused whole (`CallbackRefused`) when it is not the provider's
JSON or passes the bounds below; within a good body, an item missing its id is skipped (counted
by the caller as ignored), since a provider retries a whole batch that is not acknowledged.
Tencent's replies carry no id of their own: the reply's id is its phone, time and text.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from app.clock import to_millisecond

MAX_CALLBACK_BYTES = 512 * 1024
MAX_CALLBACK_ITEMS = 1000
MAX_FIELD_LENGTH = 500  # an error text, a reply's text: kept to this many characters
BEIJING = timezone(timedelta(hours=8))
# What a member replies to stop marketing SMS (回T退订): compared trimmed, case-folded, with
# full-width letters folded to ASCII (ＴＤ is TD).
UNSUBSCRIBE_WORDS = frozenset({"t", "td", "n", "退订", "stop", "unsubscribe"})


class CallbackRefused(ValueError):
    """The body is not what the provider documents, or passes a bound; nothing of it is used."""


@dataclass(frozen=True)
class SmsReport:
    """The handset received the message (`delivered`), or the carrier gave up."""

    provider: str
    provider_id: str  # Alibaba's BizId, Tencent's SerialNo (sid): what SendSms answered
    phone: str | None  # E.164 where the report names one
    delivered: bool
    code: str  # the carrier's status: DELIVERED, DELIVRD, an error code
    detail: str
    at: datetime | None  # when the handset received it (or the carrier gave up)


@dataclass(frozen=True)
class SmsReply:
    """A member's reply to a message."""

    provider: str
    reply_id: str
    phone: str  # E.164
    text: str
    at: datetime | None
    sign_name: str

    @property
    def unsubscribes(self) -> bool:
        return is_unsubscribe(self.text)


def is_unsubscribe(text: str) -> bool:
    """T, TD, N, 退订, STOP or UNSUBSCRIBE, whatever the case, width or surrounding space."""
    folded = unicodedata.normalize("NFKC", text).strip().casefold()
    return folded in UNSUBSCRIBE_WORDS


def _items(body: bytes, *, single_allowed: bool = False) -> list[dict[str, Any]]:
    if len(body) > MAX_CALLBACK_BYTES:
        raise CallbackRefused(f"a body of at most {MAX_CALLBACK_BYTES} bytes")
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise CallbackRefused("not JSON") from None
    if single_allowed and isinstance(parsed, dict):
        parsed = [parsed]
    if not isinstance(parsed, list):
        raise CallbackRefused("a JSON array of reports")
    if len(parsed) > MAX_CALLBACK_ITEMS:
        raise CallbackRefused(f"at most {MAX_CALLBACK_ITEMS} items in one body")
    if not all(isinstance(item, dict) for item in parsed):
        raise CallbackRefused("each item is a JSON object")
    return parsed


def _text(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int | str):
        return str(value).strip()[:MAX_FIELD_LENGTH]
    return ""


def _beijing_time(value: object) -> datetime | None:
    """`2017-08-30 00:00:01` in Beijing time, or a Unix time in seconds, as UTC."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return to_millisecond(datetime.fromtimestamp(value, UTC))
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    try:
        local = datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return to_millisecond(local.replace(tzinfo=BEIJING).astimezone(UTC))


def _phone(number: str, country: str = "") -> str | None:
    """E.164 from a provider's number: with its country code, or 11 digits starting with 1 as
    mainland China (Alibaba's form for a mainland number)."""
    digits = number.lstrip("+")
    country = country.lstrip("+")
    if not digits.isdigit() or (country and not country.isdigit()):
        return None
    if number.startswith("+"):
        return number if 7 <= len(digits) <= 15 else None
    if country:
        if digits.startswith(country) and len(digits) > 11:
            return f"+{digits}"
        return f"+{country}{digits}" if 7 <= len(country) + len(digits) <= 15 else None
    if len(digits) == 11 and digits.startswith("1"):
        return f"+86{digits}"
    return f"+{digits}" if 7 <= len(digits) <= 15 else None


def aliyun_reports(body: bytes) -> list[SmsReport]:
    reports = []
    for item in _items(body):
        biz_id = _text(item, "biz_id")
        if not biz_id or not isinstance(item.get("success"), bool):
            continue
        reports.append(
            SmsReport(
                provider="aliyun",
                provider_id=biz_id,
                phone=_phone(_text(item, "phone_number")),
                delivered=item["success"],
                code=_text(item, "err_code"),
                detail=_text(item, "err_msg"),
                at=_beijing_time(item.get("report_time")),
            )
        )
    return reports


def tencent_reports(body: bytes) -> list[SmsReport]:
    reports = []
    for item in _items(body):
        sid = _text(item, "sid")
        status = _text(item, "report_status").upper()
        if not sid or status not in ("SUCCESS", "FAIL"):
            continue
        reports.append(
            SmsReport(
                provider="tencent",
                provider_id=sid,
                phone=_phone(_text(item, "mobile"), _text(item, "nationcode")),
                delivered=status == "SUCCESS",
                code=_text(item, "errmsg"),
                detail=_text(item, "description"),
                at=_beijing_time(item.get("user_receive_time")),
            )
        )
    return reports


def aliyun_replies(body: bytes) -> list[SmsReply]:
    replies = []
    for item in _items(body):
        sequence = _text(item, "sequence_id")
        phone = _phone(_text(item, "phone_number"))
        if not sequence or phone is None or not isinstance(item.get("content"), str):
            continue
        replies.append(
            SmsReply(
                provider="aliyun",
                reply_id=sequence,
                phone=phone,
                text=_text(item, "content"),
                at=_beijing_time(item.get("send_time")),
                sign_name=_text(item, "sign_name"),
            )
        )
    return replies


def tencent_replies(body: bytes) -> list[SmsReply]:
    replies = []
    for item in _items(body, single_allowed=True):
        phone = _phone(_text(item, "mobile"), _text(item, "nationcode"))
        if phone is None or not isinstance(item.get("text"), str):
            continue
        when = item.get("reply_time", item.get("time"))
        text = _text(item, "text")
        # no id of its own: the same phone, time and text is the same reply pushed again
        digest = hashlib.sha256(f"{phone}\n{when}\n{text}".encode()).hexdigest()[:32]
        replies.append(
            SmsReply(
                provider="tencent",
                reply_id=digest,
                phone=phone,
                text=text,
                at=_beijing_time(when),
                sign_name=_text(item, "sign"),
            )
        )
    return replies
