"""Opaque global ids: base64url of "Type:raw id"; never a raw database id on the wire."""

from __future__ import annotations

import base64
import binascii

from graphql_schema.errors import InvalidInput


def to_global_id(type_name: str, raw_id: str) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{raw_id}".encode()).decode().rstrip("=")


def from_global_id(global_id: str, expected_type: str | None = None) -> tuple[str, str]:
    """Decode a global id; a malformed one, or one of another type, is a BAD_USER_INPUT error."""
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        type_name, sep, raw_id = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("malformed id", field="id") from None
    if not sep or not type_name or not raw_id:
        raise InvalidInput("malformed id", field="id")
    if expected_type is not None and type_name != expected_type:
        raise InvalidInput(f"expected a {expected_type} id", field="id")
    return type_name, raw_id
