"""Top-level GraphQL errors a client may see, each with `extensions.code`; everything else is masked."""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.schema.exceptions import CannotGetOperationTypeError

from app.db import is_unavailable
from app.logs import request_id_var

log = logging.getLogger("jifen.graphql")


class ClientError(GraphQLError):
    """An error meant for the client; its message and code are shown as they are."""

    code = "BAD_REQUEST"

    def __init__(self, message: str, **extensions: object) -> None:
        super().__init__(message, extensions={"code": self.code, **extensions})


class Unauthenticated(ClientError):
    code = "UNAUTHENTICATED"


class Forbidden(ClientError):
    code = "FORBIDDEN"


class InvalidInput(ClientError):
    code = "BAD_USER_INPUT"


class NotConfigured(ClientError):
    code = "NOT_CONFIGURED"


class ImportBusy(ClientError):
    """Another import (the importMembers mutation or `jifen import`) is running: try again after it."""

    code = "IMPORT_RUNNING"


class RateLimited(ClientError):
    """Too many mutations: `extensions.retryAfterSeconds` says when to come back."""

    code = "RATE_LIMITED"


class Unavailable(ClientError):
    """The database did not answer within the request's time budget: retry shortly."""

    code = "UNAVAILABLE"


UNAVAILABLE_MESSAGE = "The service is temporarily unavailable; retry shortly."


def unavailable(error: GraphQLError) -> bool:
    return error.original_error is not None and is_unavailable(error.original_error)


class MaskInternalErrors(MaskErrors):
    """Masks what the client need not see; a database that did not answer becomes UNAVAILABLE."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        if unavailable(error):
            return GraphQLError(
                UNAVAILABLE_MESSAGE,
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                path=error.path,
                extensions={"code": Unavailable.code},
            )
        return super().anonymise_error(error)


def is_client_error(error: GraphQLError) -> bool:
    """Parse and validation errors (no original error), our own ClientErrors, graphql-core's errors
    about variable values (a GraphQLError outside any field) and an operationName naming no
    operation (strawberry raises that before validation) pass unmasked."""
    original = error.original_error
    if original is None or isinstance(original, ClientError) or isinstance(error, ClientError):
        return True
    if isinstance(original, CannotGetOperationTypeError):
        return True
    return isinstance(original, GraphQLError) and not error.path


def should_mask(error: GraphQLError) -> bool:
    return not is_client_error(error)


def classify(errors: list[GraphQLError]) -> None:
    """Log the unexpected errors (masked later, by MaskErrors); give each error of the client's own
    document (syntax, validation, variable values) the code BAD_USER_INPUT."""
    for error in errors:
        if unavailable(error):
            log.warning(
                "database unavailable (request %s) at %s: %r",
                request_id_var.get(),
                ".".join(str(p) for p in error.path or ()),
                error.original_error,
            )
            continue
        if should_mask(error):
            _log_unexpected(error)
            continue
        if isinstance(error.original_error, CannotGetOperationTypeError):
            error.message = error.original_error.as_http_error_reason()
        if "code" not in (error.extensions or {}):
            error.extensions = {**(error.extensions or {}), "code": InvalidInput.code}


def _log_unexpected(error: GraphQLError) -> None:
    original = error.original_error
    log.error(
        "unexpected error (request %s) at %s: %r",
        request_id_var.get(),
        ".".join(str(p) for p in error.path or ()),
        original,
        exc_info=(type(original), original, original.__traceback__) if original else None,
    )


def hook_error(exc: Exception) -> GraphQLError:
    """What a client sees of an exception raised in an extension's hook, outside every resolver:
    strawberry would send its message as it is (a database error names our addresses)."""
    if is_unavailable(exc):
        log.warning("database unavailable (request %s): %r", request_id_var.get(), exc)
        return Unavailable(UNAVAILABLE_MESSAGE)
    log.error(
        "unexpected error (request %s) in an extension: %r",
        request_id_var.get(),
        exc,
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return GraphQLError("Internal server error.")
