"""One-time links that open the operator console: `jifen token admin OPS --scope ... --link`.

The CLI stores a grant (who, which scopes, how long a token lives) under the SHA-256 of a random
code and prints /console/#link=<code>; the code itself is never stored, and it travels in the URL's
fragment, which browsers do not send to servers or in Referer headers. The console exchanges it
once for an admin token: the exchange deletes the grant atomically, so of two concurrent
exchanges only one gets a token, and a link not used within LINK_LIFETIME is refused.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from app.audit import record_audit
from app.clock import Clock
from app.db import Mongo, purge_at

COLLECTION = "console_links"
LINK_LIFETIME = timedelta(minutes=10)
MAX_CODE_LENGTH = 64  # token_urlsafe(32) is 43 characters


class LinkInvalid(Exception):
    """A console link unknown, already used or expired."""


@dataclass(frozen=True, slots=True)
class ConsoleGrant:
    subject: str
    scopes: tuple[str, ...]
    ttl_seconds: int


def _key(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


async def create_link(mongo: Mongo, clock: Clock, grant: ConsoleGrant, *, actor: str) -> str:
    """A new one-time code for `grant` (audited as console.link by `actor`)."""
    code = secrets.token_urlsafe(32)
    await mongo[COLLECTION].insert_one(
        {
            "_id": _key(code),
            "subject": grant.subject,
            "scopes": list(grant.scopes),
            "ttl_seconds": grant.ttl_seconds,
            "expires_at": clock.now() + LINK_LIFETIME,
            "purge_at": purge_at(LINK_LIFETIME),
        }
    )
    await record_audit(
        mongo,
        clock,
        actor=actor,
        action="console.link",
        target=f"admin:{grant.subject}",
        after={"scopes": list(grant.scopes), "ttl_seconds": grant.ttl_seconds},
    )
    return code


async def open_link(mongo: Mongo, clock: Clock, code: str) -> ConsoleGrant | None:
    """The grant behind `code`, consumed; None for an unknown, used or expired code."""
    if not code or len(code) > MAX_CODE_LENGTH:
        return None
    found = await mongo[COLLECTION].find_one_and_delete(
        {"_id": _key(code), "expires_at": {"$gt": clock.now()}}
    )
    if found is None:
        return None
    grant = ConsoleGrant(found["subject"], tuple(found["scopes"]), int(found["ttl_seconds"]))
    await record_audit(
        mongo,
        clock,
        actor=f"admin:{grant.subject}",
        action="console.link.open",
        target=f"admin:{grant.subject}",
    )
    return grant
