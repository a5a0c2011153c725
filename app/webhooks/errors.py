"""The webhooks' refusals, each a class the one error table (graphql_schema/refusals.py) maps."""

from __future__ import annotations


class WebhookError(Exception):
    """A refused webhook request; `field` names the input at fault."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class InvalidEndpoint(WebhookError):
    """The URL, the event types, a filter or the description is not acceptable."""


class EndpointNotFound(WebhookError):
    """No endpoint has this id (or it was deleted)."""


class InvalidReplay(WebhookError):
    """The replay's time range is empty, reversed or longer than allowed."""
