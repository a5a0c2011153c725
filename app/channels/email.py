"""E-mail over SMTP: one message to one member, sent through the brand's relay.

`EmailMessage` is the message as the domain hands it over (who, what, the headers marketing mail
needs); `SmtpMailer.send` checks it against the bounds below before it opens any connection, writes
it as MIME (multipart/alternative, text then HTML, UTF-8 in 7-bit transfer encodings so no relay
needs 8BITMIME or SMTPUTF8, RFC 2047 words for a Chinese subject or name), and answers a `Delivery`
whose outcome tells the outbox what to do next:

- RETRY: the relay could not be reached, did not answer in time, hung up, or answered 4xx
  (greylisting, rate limits, a full queue): the same message may go through later.
- INVALID_RECIPIENT: 550, 551 or 553 to the recipient: this address will never take mail.
- FAILED: 535 (the relay refused our credentials), any other 5xx, a TLS handshake the relay's
  certificate fails: nothing changes by trying again until an operator acts.

One connection per message: the outbox sends a message at a time, and a relay that drops idle
connections makes a pooled one a source of RETRYs of its own.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage as MimeMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from pathlib import Path

import aiosmtplib

from app.channels.delivery import Delivery, Outcome
from app.clock import Clock, SystemClock
from app.config import Settings, SmtpSecurity

# Bounds, checked before connecting (docs/channels.md lists them).
MAX_ADDRESS_LENGTH = 254  # RFC 5321's path limit less its angle brackets
MAX_LOCAL_PART_LENGTH = 64
MAX_DISPLAY_NAME_LENGTH = 100
MAX_SUBJECT_LENGTH = 200  # characters; a mail client shows far fewer
MAX_BODY_BYTES = 256 * 1024  # each of the text and HTML bodies, in UTF-8
MAX_EXTRA_HEADERS = 10
MAX_HEADER_VALUE_LENGTH = 1000
MAX_DETAIL_LENGTH = 500  # Delivery.detail

# ASCII addresses only: the relays Chinese brands use (and most others) do not all take SMTPUTF8,
# and a member's address is written by the member, so a conservative shape refuses typing slips
# early rather than as a bounce later.
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN = re.compile(r"([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # printable ASCII without the colon (RFC 5322)
# Headers the mailer writes itself; an extra header may not replace them.
_OWN_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version", "sender"}
)
_RECIPIENT_GONE = frozenset({550, 551, 553})
# A 7-bit policy: set_content picks quoted-printable or base64 for non-ASCII bodies.
_POLICY = SMTP_POLICY.clone(cte_type="7bit")


DEFAULT_PORTS = {SmtpSecurity.STARTTLS: 587, SmtpSecurity.TLS: 465, SmtpSecurity.NONE: 25}


class MessageRefused(ValueError):
    """A message the mailer will not send as it stands (nothing was sent); `field` names the part."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class InvalidAddress(MessageRefused):
    """An address must be ASCII `local@domain.tld`, within RFC 5321's lengths."""


class HeaderInjection(MessageRefused):
    """No header value (subject, name, address, extra header) may hold a CR or LF: one would let
    text a member or an operator wrote start headers of its own (a Bcc to thousands)."""


class MessageTooLarge(MessageRefused):
    """A subject, name, body or header past its bound; `size` and `limit` in the bound's unit."""

    def __init__(self, field: str, size: int, limit: int) -> None:
        super().__init__(field, f"{size} is more than {limit}")
        self.size = size
        self.limit = limit


class MailerMisconfigured(ValueError):
    """A mailer whose settings cannot work (credentials over an unencrypted connection)."""


@dataclass(frozen=True)
class EmailMessage:
    """One e-mail to one member. `headers` are extra headers, such as marketing mail's
    `List-Unsubscribe` and `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058)."""

    to: str
    subject: str
    text: str
    html: str | None = None
    to_name: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


def check_address(value: str, field: str = "to") -> None:
    """Refuse an address the mailer would not send to (InvalidAddress, HeaderInjection)."""
    _refuse_line_breaks(field, value)
    if len(value) > MAX_ADDRESS_LENGTH:
        raise MessageTooLarge(field, len(value), MAX_ADDRESS_LENGTH)
    local, at, domain = value.rpartition("@")
    if not at or not value.isascii():
        raise InvalidAddress(field, "not an ASCII address local@domain")
    if len(local) > MAX_LOCAL_PART_LENGTH:
        raise MessageTooLarge(f"{field} local part", len(local), MAX_LOCAL_PART_LENGTH)
    if not _LOCAL_PART.fullmatch(local) or not _DOMAIN.fullmatch(domain):
        raise InvalidAddress(field, "not an ASCII address local@domain")


def _refuse_line_breaks(field: str, value: str) -> None:
    # Every line break str.splitlines knows (CR, LF, U+2028, ...), not only CR and LF: the
    # email package folds on some of them too.
    if value and value.splitlines() != [value]:
        raise HeaderInjection(field, "a header value may not hold a line break")


def check_message(message: EmailMessage) -> None:
    """Every bound of an outgoing message, before any connection: the typed error names the part."""
    check_address(message.to)
    _check_text("to_name", message.to_name, MAX_DISPLAY_NAME_LENGTH)
    _check_text("subject", message.subject, MAX_SUBJECT_LENGTH)
    if not message.subject.strip():
        raise MessageRefused("subject", "empty")
    for name, body in (("text", message.text), ("html", message.html or "")):
        size = len(body.encode("utf-8", "surrogatepass"))
        if size > MAX_BODY_BYTES:
            raise MessageTooLarge(name, size, MAX_BODY_BYTES)
    if len(message.headers) > MAX_EXTRA_HEADERS:
        raise MessageTooLarge("headers", len(message.headers), MAX_EXTRA_HEADERS)
    for name, value in message.headers.items():
        _refuse_line_breaks("header name", name)
        if not _HEADER_NAME.fullmatch(name):
            raise MessageRefused("headers", f"{name!r} is not a header name")
        if name.lower() in _OWN_HEADERS or name.lower().startswith("content-"):
            raise MessageRefused("headers", f"{name} is written by the mailer")
        _check_text(name, value, MAX_HEADER_VALUE_LENGTH)


def _check_text(field: str, value: str, limit: int) -> None:
    _refuse_line_breaks(field, value)
    if len(value) > limit:
        raise MessageTooLarge(field, len(value), limit)


class SmtpMailer:
    """Sends `EmailMessage`s through one SMTP relay. `timeout` bounds the whole exchange of one
    message (connect, greeting, TLS, AUTH, the envelope and the data), not each step;
    `tls_context` replaces the system's trusted certificates (a private CA, a test's own)."""

    def __init__(
        self,
        *,
        host: str,
        from_address: str,
        from_name: str = "",
        port: int | None = None,
        security: SmtpSecurity = SmtpSecurity.STARTTLS,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
        clock: Clock | None = None,
    ) -> None:
        check_address(from_address, "from_address")
        _check_text("from_name", from_name, MAX_DISPLAY_NAME_LENGTH)
        if (username is None) != (password is None):
            raise MailerMisconfigured(
                "an SMTP username needs its password, and a password its user"
            )
        if username is not None and security is SmtpSecurity.NONE:
            raise MailerMisconfigured(
                "SMTP credentials over an unencrypted connection: use starttls or tls"
            )
        if timeout <= 0:
            raise MailerMisconfigured("the SMTP timeout must be positive")
        self.host = host
        self.port = port or DEFAULT_PORTS[security]
        self.security = security
        self.from_address = from_address
        self.from_name = from_name
        self._username = username
        self._password = password
        self.timeout = timeout
        self._tls_context = tls_context
        self._clock = clock or SystemClock()

    def mime(self, message: EmailMessage) -> MimeMessage:
        """The message as it goes on the wire (checked first: MessageRefused)."""
        check_message(message)
        mime = MimeMessage(policy=_POLICY)
        local, _, domain = self.from_address.rpartition("@")
        mime["From"] = Address(self.from_name, local, domain)
        to_local, _, to_domain = message.to.rpartition("@")
        mime["To"] = Address(message.to_name, to_local, to_domain)
        mime["Subject"] = message.subject
        mime["Date"] = format_datetime(self._clock.now())
        mime["Message-ID"] = make_msgid(domain=domain)
        for name, value in message.headers.items():
            mime[name] = value
        mime.set_content(message.text, charset="utf-8")
        if message.html is not None:
            mime.add_alternative(message.html, subtype="html", charset="utf-8")
        return mime

    async def send(self, message: EmailMessage) -> Delivery:
        """Send one message; MessageRefused (raised, nothing sent) when it is out of bounds."""
        mime = self.mime(message)
        message_id = mime["Message-ID"]
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self._username,
            password=self._password,
            timeout=self.timeout,
            use_tls=self.security is SmtpSecurity.TLS,
            start_tls=self.security is SmtpSecurity.STARTTLS,
            tls_context=self._tls_context,
        )
        try:
            async with asyncio.timeout(self.timeout), client:
                errors, response = await client.send_message(
                    mime, sender=self.from_address, recipients=[message.to]
                )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0]
            return _refused(refusal.code, refusal.message, to_recipient=True)
        except aiosmtplib.SMTPResponseException as exc:  # greeting, AUTH, MAIL FROM, DATA
            return _refused(exc.code, exc.message, to_recipient=False)
        except ssl.SSLError as exc:
            return Delivery(Outcome.FAILED, error_code="tls", detail=_bounded(str(exc)))
        except (OSError, TimeoutError) as exc:  # aiosmtplib's connect, disconnect and timeouts too
            if isinstance(exc.__cause__, ssl.SSLCertVerificationError):
                return Delivery(Outcome.FAILED, error_code="tls", detail=_bounded(str(exc)))
            # Refused, reset, timed out, hung up: the relay may be back later.
            detail = str(exc) or type(exc).__name__
            return Delivery(Outcome.RETRY, error_code="connection", detail=_bounded(detail))
        except aiosmtplib.SMTPException as exc:
            # STARTTLS or AUTH asked of a relay that does not offer it: a setting to change,
            # and never a reason to send in clear instead.
            return Delivery(Outcome.FAILED, error_code="not_supported", detail=_bounded(str(exc)))
        if errors:  # a single recipient: refused ones raise above, so this is defensive
            code, text = next(iter(errors.values()))
            return _refused(code, text, to_recipient=True)
        return Delivery(Outcome.SENT, provider_id=message_id, detail=_bounded(response))


def _refused(code: int, text: str, *, to_recipient: bool) -> Delivery:
    """The outcome of an SMTP reply that refused the message (code 4xx or 5xx). Only a refusal
    of RCPT TO says the address is gone: 550 to MAIL FROM is our sender, 550 to DATA the content."""
    if 400 <= code < 500:
        outcome = Outcome.RETRY
    elif to_recipient and code in _RECIPIENT_GONE:
        outcome = Outcome.INVALID_RECIPIENT
    else:
        outcome = Outcome.FAILED  # 535 (our credentials), 552, 554 (content), anything else
    return Delivery(outcome, error_code=str(code), detail=_bounded(text))


def _bounded(text: str) -> str:
    return text[:MAX_DETAIL_LENGTH]


def configured_mailer(settings: Settings, clock: Clock | None = None) -> SmtpMailer | None:
    """The mailer JIFEN_SMTP_* describe, or None when no relay is configured (JIFEN_SMTP_HOST)."""
    if settings.smtp_host is None:
        return None
    if settings.smtp_from is None:
        raise MailerMisconfigured("JIFEN_SMTP_FROM is required with JIFEN_SMTP_HOST")
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return SmtpMailer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        security=settings.smtp_security,
        username=settings.smtp_username,
        password=password,
        from_address=settings.smtp_from,
        from_name=settings.smtp_from_name,
        timeout=settings.smtp_timeout_seconds,
        tls_context=_trusting(settings.smtp_ca_file),
        clock=clock,
    )


def _trusting(ca_file: Path | None) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
