"""The SMTP mailer against a real SMTP server (aiosmtpd) on a local socket, in the test's own event
loop: the server records every message it accepts, and refuses what a real relay refuses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage as MimeMessage
from email.policy import default as default_policy
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from app.channels import (
    Delivery,
    EmailMessage,
    HeaderInjection,
    InvalidAddress,
    MailerMisconfigured,
    MessageTooLarge,
    Outcome,
    SmtpMailer,
    configured_mailer,
)
from app.clock import FrozenClock
from app.config import ConfigurationError, Settings, SmtpSecurity, load_settings
from tests.channels.tls import Certificate, free_port

SENT_AT = datetime(2026, 12, 7, 16, 30, tzinfo=UTC)  # 00:30 on the 8th in Shanghai
USER, PASSWORD = "jifen-relay", "correct horse battery staple"


@dataclass
class Received:
    envelope: Envelope
    encrypted: bool
    authenticated: bool

    @property
    def message(self) -> MimeMessage:
        content = self.envelope.original_content or b""
        parsed = message_from_bytes(content, policy=default_policy)
        assert isinstance(parsed, MimeMessage)
        return parsed


@dataclass
class Recorder:
    """An aiosmtpd handler: refuses the recipients `gone@` (550) and `later@` (451), the sender
    `blocked@` (550), a message with an `X-Spam-Test` header (550), and records the rest."""

    received: list[Received] = field(default_factory=list)
    connections: int = 0
    mechanisms: list[str] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("gone@"):
            return "550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown"
        if address.startswith("later@"):
            return "451 4.7.1 Greylisted, please try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("blocked@"):
            return "550 5.7.1 <blocked@jifen.example.cn>: Sender address rejected: Access denied"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if b"X-Spam-Test:" in (envelope.original_content or b""):
            return "550 5.7.1 Message rejected as spam"
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        self.received.append(Received(envelope, encrypted, bool(session.authenticated)))
        return "250 2.0.0 Ok: queued as 4F2A1C"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        self.mechanisms.append(mechanism)
        assert isinstance(data, LoginPassword)
        right = data.login == USER.encode() and data.password == PASSWORD.encode()
        return AuthResult(success=right, handled=False)  # handled=False: the server answers 535


@dataclass
class Relay:
    port: int
    recorder: Recorder


@asynccontextmanager
async def relay(
    *,
    starttls: Certificate | None = None,
    implicit_tls: Certificate | None = None,
    exclude_mechanisms: Iterable[str] = (),
) -> AsyncIterator[Relay]:
    """A local SMTP server on a free port of 127.0.0.1, in this event loop."""
    recorder = Recorder()
    loop = asyncio.get_running_loop()

    def server() -> SMTP:
        recorder.connections += 1
        return SMTP(
            recorder,
            hostname="relay.test",
            enable_SMTPUTF8=False,  # the mailer's messages must not need it
            tls_context=starttls.server_context() if starttls else None,
            require_starttls=starttls is not None,
            authenticator=recorder.authenticate,
            auth_exclude_mechanism=list(exclude_mechanisms),
            loop=loop,
        )

    listening = await loop.create_server(
        server, "127.0.0.1", 0, ssl=implicit_tls.server_context() if implicit_tls else None
    )
    try:
        yield Relay(listening.sockets[0].getsockname()[1], recorder)
    finally:
        listening.close()
        await listening.wait_closed()


def mailer(port: int, **options: Any) -> SmtpMailer:
    settings: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": SmtpSecurity.NONE,
        "from_address": "no-reply@jifen.example.cn",
        "from_name": "积分商城",
        "timeout": 5.0,
        "clock": FrozenClock(SENT_AT),
    }
    return SmtpMailer(**(settings | options))


def expiry_notice(to: str = "zhang.san@example.com", **changes: Any) -> EmailMessage:
    values: dict[str, Any] = {
        "to": to,
        "to_name": "张三",
        "subject": "您的 1,234 积分将于 12 月 8 日过期",
        "text": "张三，您好：\n您有 1,234 积分将于 2026-12-08 过期。",
        "html": "<p>张三，您好：</p><p>您有 <b>1,234</b> 积分将于 2026-12-08 过期。</p>",
        "headers": {
            "List-Unsubscribe": "<https://jifen.example.cn/u/abc123>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    }
    return EmailMessage(**(values | changes))


async def test_a_message_arrives_multipart_with_a_chinese_subject_and_unsubscribe_headers() -> None:
    async with relay() as server:
        delivery = await mailer(server.port).send(expiry_notice())

    assert delivery.outcome is Outcome.SENT
    assert delivery.detail == "2.0.0 Ok: queued as 4F2A1C"
    [received] = server.recorder.received
    assert received.envelope.mail_from == "no-reply@jifen.example.cn"
    assert received.envelope.rcpt_tos == ["zhang.san@example.com"]
    raw = (received.envelope.original_content or b"").decode("ascii")  # 7-bit clean on the wire
    assert "=?utf-8?" in raw  # the subject and names as RFC 2047 words
    message = received.message
    assert message["Subject"] == "您的 1,234 积分将于 12 月 8 日过期"
    assert message["To"].addresses[0].display_name == "张三"
    assert message["From"].addresses[0].display_name == "积分商城"
    assert message["Message-ID"] == delivery.provider_id
    assert parsedate_to_datetime(message["Date"]) == SENT_AT
    assert message["List-Unsubscribe"] == "<https://jifen.example.cn/u/abc123>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "您有 1,234 积分将于 2026-12-08 过期。" in text.get_content()
    assert "<b>1,234</b>" in html.get_content()
    assert text.get_content_charset() == html.get_content_charset() == "utf-8"


async def test_a_text_only_message_is_a_single_plain_part() -> None:
    async with relay() as server:
        delivery = await mailer(server.port).send(expiry_notice(html=None))

    assert delivery.outcome is Outcome.SENT
    message = server.recorder.received[0].message
    assert message.get_content_type() == "text/plain"
    assert "1,234 积分" in message.get_content()


async def test_starttls_upgrades_the_connection_before_the_message(
    certificate: Certificate,
) -> None:
    async with relay(starttls=certificate) as server:
        tls_mailer = mailer(
            server.port,
            security=SmtpSecurity.STARTTLS,
            tls_context=certificate.client_context(),
        )
        delivery = await tls_mailer.send(expiry_notice())

    assert delivery.outcome is Outcome.SENT
    assert server.recorder.received[0].encrypted


async def test_implicit_tls_from_the_first_byte(certificate: Certificate) -> None:
    async with relay(implicit_tls=certificate) as server:
        tls_mailer = mailer(
            server.port, security=SmtpSecurity.TLS, tls_context=certificate.client_context()
        )
        delivery = await tls_mailer.send(expiry_notice())

    assert delivery.outcome is Outcome.SENT
    assert server.recorder.received[0].encrypted


async def test_a_relay_whose_certificate_is_not_trusted_fails_the_message(
    certificate: Certificate,
) -> None:
    async with relay(implicit_tls=certificate) as server:
        delivery = await mailer(server.port, security=SmtpSecurity.TLS).send(expiry_notice())

    assert delivery.outcome is Outcome.FAILED
    assert delivery.error_code == "tls"
    assert server.recorder.received == []


async def test_starttls_not_offered_fails_rather_than_sending_in_clear() -> None:
    async with relay() as server:
        delivery = await mailer(server.port, security=SmtpSecurity.STARTTLS).send(expiry_notice())

    assert delivery.outcome is Outcome.FAILED
    assert server.recorder.received == []


async def send_with_auth(
    certificate: Certificate, mechanism: str, password: str
) -> tuple[Delivery, Recorder]:
    """One message through a STARTTLS relay that offers only `mechanism`."""
    other = {"LOGIN": "PLAIN", "PLAIN": "LOGIN"}[mechanism]
    async with relay(starttls=certificate, exclude_mechanisms=[other]) as server:
        auth_mailer = mailer(
            server.port,
            security=SmtpSecurity.STARTTLS,
            tls_context=certificate.client_context(),
            username=USER,
            password=password,
        )
        return await auth_mailer.send(expiry_notice()), server.recorder


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
async def test_auth_with_the_right_password_sends(certificate: Certificate, mechanism: str) -> None:
    delivery, recorder = await send_with_auth(certificate, mechanism, PASSWORD)

    assert delivery.outcome is Outcome.SENT
    assert recorder.mechanisms == [mechanism]
    assert recorder.received[0].authenticated


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
async def test_a_wrong_password_fails_with_the_relays_535(
    certificate: Certificate, mechanism: str
) -> None:
    delivery, recorder = await send_with_auth(certificate, mechanism, "wrong")

    assert delivery.outcome is Outcome.FAILED
    assert delivery.error_code == "535"
    assert recorder.mechanisms == [mechanism]
    assert recorder.received == []


async def test_a_recipient_refused_with_550_is_an_invalid_recipient() -> None:
    async with relay() as server:
        delivery = await mailer(server.port).send(expiry_notice(to="gone@example.com"))

    assert delivery.outcome is Outcome.INVALID_RECIPIENT
    assert delivery.error_code == "550"
    assert "User unknown" in delivery.detail
    assert server.recorder.received == []


async def test_a_recipient_refused_with_451_is_retried_later() -> None:
    async with relay() as server:
        delivery = await mailer(server.port).send(expiry_notice(to="later@example.com"))

    assert delivery.outcome is Outcome.RETRY
    assert delivery.error_code == "451"
    assert server.recorder.received == []


async def test_a_550_to_the_sender_or_the_content_fails_the_message_not_the_recipient() -> None:
    async with relay() as server:
        blocked = await mailer(server.port, from_address="blocked@jifen.example.cn").send(
            expiry_notice()
        )
        spam = await mailer(server.port).send(expiry_notice(headers={"X-Spam-Test": "yes"}))

    assert (blocked.outcome, blocked.error_code) == (Outcome.FAILED, "550")
    assert "Sender address rejected" in blocked.detail
    assert (spam.outcome, spam.error_code) == (Outcome.FAILED, "550")
    assert server.recorder.received == []


async def test_a_relay_that_refuses_the_connection_is_retried_later() -> None:
    delivery = await mailer(free_port()).send(expiry_notice())

    assert delivery.outcome is Outcome.RETRY
    assert delivery.error_code == "connection"


async def test_a_relay_that_accepts_and_never_answers_is_retried_within_the_timeout() -> None:
    connected = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.set()
        await reader.read()  # never a greeting; returns when the mailer hangs up
        writer.close()

    listening = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        async with asyncio.timeout(10):  # the deadline: a mailer that hangs fails the test here
            delivery = await mailer(port, timeout=0.5).send(expiry_notice())
    finally:
        listening.close()
        await listening.wait_closed()

    assert connected.is_set()
    assert delivery.outcome is Outcome.RETRY


@pytest.mark.parametrize(
    ("changes", "error", "field"),
    [
        ({"subject": "积分到账\r\nBcc: everyone@example.com"}, HeaderInjection, "subject"),
        ({"to_name": "张三\nBcc: x@example.com"}, HeaderInjection, "to_name"),
        ({"subject": "积分到账\u2028"}, HeaderInjection, "subject"),
        ({"to": "a@example.com\r\nBcc: b@example.com"}, HeaderInjection, "to"),
        (
            {"headers": {"List-Unsubscribe": "<https://u>\r\nBcc: b@example.com"}},
            HeaderInjection,
            "List-Unsubscribe",
        ),
        ({"to": "no-at-sign.example.com"}, InvalidAddress, "to"),
        ({"to": "张三@example.com"}, InvalidAddress, "to"),
        ({"to": "a@localhost"}, InvalidAddress, "to"),
        ({"to": "a" * 65 + "@example.com"}, MessageTooLarge, "to local part"),
        ({"to": "a@" + "b" * 250 + ".com"}, MessageTooLarge, "to"),
        ({"subject": "积" * 201}, MessageTooLarge, "subject"),
        ({"text": "积分" * 50_000}, MessageTooLarge, "text"),
        ({"html": "<p>" + "x" * 300_000 + "</p>"}, MessageTooLarge, "html"),
    ],
)
async def test_a_message_out_of_bounds_is_refused_before_connecting(
    changes: dict[str, Any], error: type[Exception], field: str
) -> None:
    async with relay() as server:
        with pytest.raises(error) as refused:
            await mailer(server.port).send(expiry_notice(**changes))

    assert getattr(refused.value, "field", None) == field
    assert server.recorder.connections == 0


async def test_extra_headers_may_not_replace_the_mailers_own() -> None:
    for name in ("Bcc", "From", "Content-Type", "Message-ID", "Bad Name"):
        with pytest.raises(ValueError, match="header"):
            await mailer(free_port()).send(expiry_notice(headers={name: "x"}))


def test_credentials_need_an_encrypted_connection() -> None:
    with pytest.raises(MailerMisconfigured):
        mailer(25, username=USER, password=PASSWORD)
    with pytest.raises(ConfigurationError, match="JIFEN_SMTP_USERNAME"):
        load_settings(
            smtp_host="relay",
            smtp_from="a@example.com",
            smtp_security="none",
            smtp_username=USER,
            smtp_password=PASSWORD,
        )


async def test_the_configured_mailer_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, certificate: Certificate
) -> None:
    assert configured_mailer(Settings(_env_file=None)) is None  # type: ignore[call-arg]
    async with relay(implicit_tls=certificate) as server:
        for name, value in {
            "HOST": "127.0.0.1",
            "PORT": str(server.port),
            "SECURITY": "tls",
            "FROM": "no-reply@jifen.example.cn",
            "CA_FILE": str(certificate.cert_file),
        }.items():
            monkeypatch.setenv(f"JIFEN_SMTP_{name}", value)
        configured = configured_mailer(Settings(_env_file=None))  # type: ignore[call-arg]
        assert configured is not None
        delivery = await configured.send(expiry_notice())

    assert delivery.outcome is Outcome.SENT
    assert server.recorder.received[0].encrypted
