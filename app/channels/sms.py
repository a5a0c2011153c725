"""One text message to one phone, the interface every SMS provider implements, and how the
providers count a message's length.

Chinese SMS providers send only pre-approved templates: a message names its template and its sign
name (签名, the 【brand】 the handset shows first), and carries the template's variables. The
message here is that request, checked against the bounds both providers document before any
adapter touches the network, so a malformed message is a typed refusal (SmsRefused) and never a
provider round trip that comes back as an opaque error code.

Length: both providers bill a long message as several parts. sms_parts and signed_sms_parts count
them the way Alibaba Cloud and Tencent Cloud document it (docs/channels.md, "SMS").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from app.channels.delivery import Delivery

# E.164: a plus, a country code that does not start with 0, at most 15 digits in all. Mainland
# China numbers are +86 and eleven digits starting with 1.
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_MAINLAND = re.compile(r"\+861[0-9]{10}")
# Template codes: Alibaba's are "SMS_" and digits, Tencent's template ids are digits.
_TEMPLATE_CODE = re.compile(r"[A-Za-z0-9_]{1,64}")
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")

MIN_SIGN_NAME = 2  # both providers: a sign name has 2 to 12 characters
MAX_SIGN_NAME = 12
MAX_PARAMS = 16
# Alibaba: a template variable's value has at most 35 characters unless the account had the limit
# lifted; the tighter of the two providers' rules, so a message valid here is valid for both.
MAX_PARAM_VALUE = 35


class SmsRefused(ValueError):
    """A message outside the documented bounds; refused before any provider is called.
    `field` names the offending part: phone, sign_name, template_code or params."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _plain_text(value: str) -> bool:
    """No control or format character: a line break or a direction mark in a sign name or a
    variable changes what the handset shows, and the providers refuse them as content."""
    return all(unicodedata.category(char)[0] != "C" for char in value)


@dataclass(frozen=True)
class SmsMessage:
    """A template message to one phone. `params` keeps its order: Alibaba takes it as a JSON
    object by name, Tencent as a positional list in this order."""

    phone: str  # E.164, e.g. "+8613800138000"
    sign_name: str
    template_code: str
    params: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.phone, str) or not _E164.fullmatch(self.phone):
            raise SmsRefused("phone", "not an E.164 number (+, country code, at most 15 digits)")
        if self.phone.startswith("+86") and not _MAINLAND.fullmatch(self.phone):
            raise SmsRefused("phone", "a mainland China number is +86 and 11 digits starting 1")
        if not MIN_SIGN_NAME <= len(self.sign_name) <= MAX_SIGN_NAME:
            raise SmsRefused(
                "sign_name", f"must have {MIN_SIGN_NAME} to {MAX_SIGN_NAME} characters"
            )
        if not _plain_text(self.sign_name) or self.sign_name != self.sign_name.strip():
            raise SmsRefused("sign_name", "control characters or surrounding spaces")
        if not _TEMPLATE_CODE.fullmatch(self.template_code):
            raise SmsRefused("template_code", "letters, digits and _ only, 1 to 64 of them")
        if len(self.params) > MAX_PARAMS:
            raise SmsRefused("params", f"at most {MAX_PARAMS} template variables")
        for name, value in self.params.items():
            if not isinstance(name, str) or not _PARAM_NAME.fullmatch(name):
                raise SmsRefused("params", f"variable name {name!r} is not an identifier")
            if not isinstance(value, str) or not 1 <= len(value) <= MAX_PARAM_VALUE:
                raise SmsRefused(
                    "params", f"variable {name} must be text of 1 to {MAX_PARAM_VALUE} characters"
                )
            if not _plain_text(value):
                raise SmsRefused("params", f"variable {name} has a control character")
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    @property
    def mainland(self) -> bool:
        """A mainland China number: domestic SMS, counted and priced by the domestic rules."""
        return self.phone.startswith("+86")


class SmsProvider(Protocol):
    """An SMS provider's adapter. `send` never raises for what the provider or the network does:
    every answer, timeout and refused connection becomes a Delivery."""

    name: str

    async def send(self, message: SmsMessage) -> Delivery: ...


# GSM 03.38: the basic character set (one septet each; ESC excluded) and its extension table
# (ESC + one septet: two each). A text with any other character is sent as UCS-2.
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("\f^{}\\[~]|€")

GSM_SINGLE, GSM_PART = 160, 153  # septets: one message, and each part of a long one
UCS2_SINGLE, UCS2_PART = 70, 67  # UTF-16 code units, likewise


def is_gsm7(text: str) -> bool:
    """Whether every character is in GSM-7 (basic or extension table)."""
    return all(char in _GSM_BASIC or char in _GSM_EXTENDED for char in text)


def _split(units: list[int], single: int, per_part: int) -> int:
    total = sum(units)
    if total <= single:
        return 1 if units else 0
    parts, filled = 1, 0
    for width in units:  # a character is never split across parts (an escape, a surrogate pair)
        if filled + width > per_part:
            parts, filled = parts + 1, 0
        filled += width
    return parts


def sms_parts(text: str, *, mainland: bool = False) -> int:
    """How many parts `text` is billed and sent as (0 for no text).

    International rule, both providers (Alibaba's sending rules; Tencent's notice of 2020-03-02):
    a text entirely in GSM-7 is one part up to 160 characters and 153 a part beyond, a character
    of the extension table (| ^ € { } [ ] ~ \\) counting two; any other text (Chinese, an emoji,
    a curly quote) is UCS-2, one part up to 70 and 67 a part beyond.

    `mainland=True`, the domestic rule (Alibaba: 国内短信): every character counts one whatever
    its script, 70 for one part, 67 a part beyond, so a pure ASCII text is split like Chinese.

    UCS-2 counts UTF-16 code units, what the handset receives: an emoji outside the Basic
    Multilingual Plane is two, and a part never ends between its halves.
    """
    if not mainland and is_gsm7(text):
        return _split([2 if char in _GSM_EXTENDED else 1 for char in text], GSM_SINGLE, GSM_PART)
    return _split([2 if ord(char) > 0xFFFF else 1 for char in text], UCS2_SINGLE, UCS2_PART)


def signed_text(text: str, sign_name: str, *, mainland: bool = False) -> str:
    """The text as the handset shows it: the sign name in the brackets the provider adds, then
    the text. 【】 on mainland messages and whenever anything is not GSM-7; Alibaba puts a pure
    English international message's sign name in [] instead."""
    if not mainland and is_gsm7(sign_name + text):
        return f"[{sign_name}]{text}"
    return f"【{sign_name}】{text}"


def signed_sms_parts(text: str, sign_name: str, *, mainland: bool = False) -> int:
    """The parts of `text` sent under `sign_name`: the count to budget and bill by.

    Alibaba documents the length as the sign name's characters, with the 【】 or [] it adds, plus
    the template's text as received, domestic and international alike (at most 500 in all).
    Tencent's length rules count the characters of the message as received, which begins with
    the same 【sign name】; both are counted here by the same rule as sms_parts.
    """
    return sms_parts(signed_text(text, sign_name, mainland=mainland), mainland=mainland)
