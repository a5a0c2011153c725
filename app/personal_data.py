"""A member's personal data as it may be written in stored text, and its redaction.

Erasure (app/privacy) gathers what it erases into one PersonalData: the name, phones, e-mail
addresses, birthday and push device tokens, with the older values the audit log recorded. Each
area then redacts its own copies: every occurrence in a string, at any depth of a document, is
replaced by ERASED, and a field named as personal (`name`, `phone`, ...) loses its whole value.

Phones are found however they are written: +8613800138000, 008613800138000, 13800138000, with
spaces, dashes, dots or brackets between the digits; a number of another country by its digits
after + or 00. Names and e-mails match without regard to case, birthdays as 1991-07-23, 1991/07/23
or 1991.07.23. A one-character name is no evidence in free text (李 is part of many words), so it
is redacted only where a personal field holds it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app.db import Document

ERASED = "[erased]"
PERSONAL_FIELDS = frozenset({"name", "phone", "email", "birthday"})
_SEPARATORS = r"[\s\-.()]*"


@dataclass(frozen=True)
class PersonalData:
    names: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()  # E.164
    emails: tuple[str, ...] = ()
    birthdays: tuple[str, ...] = ()  # ISO dates
    tokens: tuple[str, ...] = ()  # push device tokens
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = [re.escape(name) for name in self.names if len(name) > 1]
        parts += [_phone_pattern(phone) for phone in self.phones]
        parts += [re.escape(value) for value in (*self.emails, *self.tokens)]
        parts += [_date_pattern(born) for born in self.birthdays]
        # the longer first: where an e-mail starts with the name, the whole e-mail is replaced
        parts.sort(key=len, reverse=True)
        pattern = re.compile("|".join(parts), re.IGNORECASE) if parts else None
        object.__setattr__(self, "_pattern", pattern)

    @classmethod
    def of(cls, **values: Iterable[object]) -> PersonalData:
        """From any values (None and repeats dropped, dates as ISO text)."""
        return cls(**{key: _texts(items) for key, items in values.items()})

    @property
    def identifying(self) -> PersonalData:
        """Only what names this member and nobody else (phones, e-mails, device tokens): what to
        look for in documents shared with other members, where a name or a birthday may as well
        be someone else's."""
        return PersonalData(phones=self.phones, emails=self.emails, tokens=self.tokens)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where in `text` personal data is written (character offsets)."""
        if self._pattern is None:
            return []
        return [match.span() for match in self._pattern.finditer(text)]

    def changes(self, document: Document, kept: frozenset[str]) -> Document:
        """The top-level fields of `document` (but those `kept`) that redaction changes, with
        their redacted values: an update's $set, empty when nothing is to change."""
        return {
            key: redacted
            for key, value in document.items()
            if key not in kept and (redacted := self.redact(value)) is not value
        }

    def redact(self, value: Any, fields: frozenset[str] = frozenset()) -> Any:
        """`value` with every occurrence replaced by ERASED, in strings at any depth; the values
        of keys in `fields` replaced whole. The same object when nothing was found."""
        if isinstance(value, str):
            if self._pattern is None:
                return value
            redacted, count = self._pattern.subn(ERASED, value)
            return redacted if count else value
        if isinstance(value, dict):
            changed = {
                str(key): (
                    ERASED
                    if key in fields and item not in (None, "", ERASED)
                    else self.redact(item, fields)
                )
                for key, item in value.items()
            }
            return value if changed == value else changed
        if isinstance(value, list):
            items = [self.redact(item, fields) for item in value]
            return value if items == value else items
        return value


def _texts(items: Iterable[object]) -> tuple[str, ...]:
    texts = [
        item.isoformat() if isinstance(item, date) else str(item)
        for item in items
        if item not in (None, "")
    ]
    return tuple(dict.fromkeys(texts))


def _phone_pattern(e164: str) -> str:
    """The number written with any separators between its digits, with or without its country
    code (+86 or 0086 before a mainland number), never inside a longer run of digits."""
    digits = e164.lstrip("+")
    if digits.startswith("86") and len(digits) == 13:
        country, national = "86", digits[2:]
    else:
        country, national = "", digits
    spelled = r"\(?" + _SEPARATORS.join(national)
    code = rf"(?:(?:\+|00)?{_SEPARATORS.join(country)}{_SEPARATORS})?" if country else r"(?:\+|00)?"
    return rf"(?<!\d){code}{spelled}(?!\d)"


def _date_pattern(iso: str) -> str:
    year, month, day = iso.split("-")
    return rf"(?<!\d){year}[-/.]{month}[-/.]{day}(?!\d)"
