"""The refusals of app/messaging, one class per rule (graphql_schema/refusals.py maps them)."""

from __future__ import annotations


class MessagingError(Exception):
    pass


class UnknownEventKind(MessagingError, ValueError):
    def __init__(self, kind: str) -> None:
        super().__init__(f"no event kind {kind!r}")
        self.kind = kind


class UnknownChannel(MessagingError, ValueError):
    def __init__(self, channel: str) -> None:
        super().__init__(f"no channel {channel!r}")
        self.channel = channel


class UnknownLanguage(MessagingError, ValueError):
    def __init__(self, language: str) -> None:
        super().__init__(f"no templates in {language!r}: zh-CN or en")
        self.language = language


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
