"""The refusals of app/messaging, one class per rule (graphql_schema/refusals.py maps them)."""

from __future__ import annotations


class MessagingError(Exception):
    pass


class UnknownEventKind(MessagingError, ValueError):
    def __init__(self, kind: str) -> None:
        super().__init__(f"no event kind {kind!r}")
        self.kind = kind
        self.field = "kind"


class UnknownChannel(MessagingError, ValueError):
    def __init__(self, channel: str) -> None:
        super().__init__(f"no channel {channel!r}")
        self.channel = channel
        self.field = "channel"


class UnknownLanguage(MessagingError, ValueError):
    def __init__(self, language: str) -> None:
        super().__init__(f"no templates in {language!r}: zh-CN or en")
        self.language = language
        self.field = "language"


class TransactionalNeedsAChannel(MessagingError):
    """A transactional kind turned off on every channel: one has to stay (docs/messaging.md)."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"{kind} tells of the member's own points: keep at least one channel on")
        self.kind = kind


class BadUnsubscribeToken(MessagingError):
    """An unsubscribe link whose signature does not hold (forged, truncated, another key)."""


class MessageNotFound(MessagingError):
    def __init__(self, message_id: str) -> None:
        super().__init__(f"no message {message_id!r}")
        self.message_id = message_id


class MessageNotDead(MessagingError):
    """Only a failed (dead-lettered) message can be retried by an operator."""

    def __init__(self, message_id: str, status: str) -> None:
        super().__init__(f"message {message_id} is {status}, not failed")
        self.message_id = message_id
        self.status = status


class InvalidTemplate(MessagingError):
    """A template an operator saved (or previewed) that app/channels refuses: `field` names the
    part (subject, body, html, sms_params), `line` the template's line when known."""

    def __init__(self, field: str, message: str, line: int | None = None) -> None:
        where = f" (line {line})" if line is not None else ""
        super().__init__(f"{field}: {message}{where}")
        self.field = field
        self.line = line


class InvalidPolicy(MessagingError):
    """A rule of sending out of its bounds; `field` names it (routes, quiet_start, daily_caps...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
