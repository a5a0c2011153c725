"""Phone numbers in E.164: a bare 11-digit mainland mobile is +86, anything else must say its country."""

from __future__ import annotations

import re

DEFAULT_COUNTRY_CODE = "86"
_SEPARATORS = re.compile(r"[\s\-().]")
_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class InvalidPhone(ValueError):
    """Not a phone number we can store; the message says why."""


def normalise_phone(raw: str) -> str:
    """`138 0013 8000`, `+86 138-0013-8000` and `008613800138000` all become `+8613800138000`."""
    compact = _SEPARATORS.sub("", raw.strip())
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if compact.startswith("+"):
        if not _E164.match(compact):
            raise InvalidPhone("a phone number is + then 7 to 15 digits")
        if compact.startswith("+86") and not _CN_MOBILE.match(compact[3:]):
            raise InvalidPhone("a +86 mobile number has 11 digits starting with 13-19")
        return compact
    if _CN_MOBILE.match(compact):
        return f"+{DEFAULT_COUNTRY_CODE}{compact}"
    raise InvalidPhone("give an 11-digit mainland mobile number or +<country code><number>")
