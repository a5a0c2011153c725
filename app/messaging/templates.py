"""The program's message templates, per event kind, channel and language (zh-CN, en).

Stored in `message_templates` (one document per kind, channel and language); a kind with none
stored uses the default shipped here, so every kind can be sent from the first start. An
operator's template is checked when saved (app/channels.check_template: the kind's declared
variables only, the sandbox's bounds) and rendered with app/channels.render in the program's time
zone. SMS text is what the dev inbox shows and what is counted (sms_parts); a provider sends its
approved template (`sms_template_code`) with the variables named in `sms_params`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pymongo.asynchronous.client_session import AsyncClientSession

from app.audit import record_audit
from app.channels import TemplateError, TemplateFormat, Value, check_template, render, sms_parts
from app.clock import Clock
from app.db import Document, Mongo
from app.messaging.errors import InvalidTemplate, UnknownLanguage
from app.messaging.kinds import VARIABLES, Channel, EventKind
from app.messaging.policy import LANGUAGES


@dataclass(frozen=True)
class MessageTemplate:
    kind: EventKind
    channel: Channel
    language: str
    body: str  # push and e-mail text, SMS text
    subject: str = ""  # e-mail subject, push title
    html: str | None = None  # e-mail only
    sms_template_code: str | None = None  # the provider's approved template
    sms_params: tuple[str, ...] = ()  # the variables the provider's template takes, in order
    stored: bool = False  # False: the shipped default


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None = None
    sms_params: Mapping[str, str] = field(default_factory=dict)
    sms_template_code: str | None = None
    sms_parts: int = 0


_ZH: dict[EventKind, tuple[str, str]] = {
    EventKind.EXPIRY_WARNING: (
        "积分即将过期",
        "{{ name }}，您好：您有 {{ points|digits }} 积分将于 {{ expires_on|date('%Y年%m月%d日') }} 过期，"
        "还剩 {{ days_left }} 天，请及时使用。",
    ),
    EventKind.TIER_CHANGED: (
        "会员等级变更",
        "{{ name }}，您好：您的会员等级已变为 {{ tier_name }}。",
    ),
    EventKind.ACCESS_REVOKED: (
        "账户已停用",
        "{{ name }}，您好：您在 {{ program_name }} 的账户已停用，如有疑问请联系客服。",
    ),
    EventKind.CAMPAIGN: ("{{ title }}", "{{ body }}"),
}
_EN: dict[EventKind, tuple[str, str]] = {
    EventKind.EXPIRY_WARNING: (
        "Your points expire soon",
        "Hello {{ name }}: {{ points|digits }} points expire on {{ expires_on|date }}, "
        "in {{ days_left }} days. Use them before then.",
    ),
    EventKind.TIER_CHANGED: (
        "Your tier changed",
        "Hello {{ name }}: your tier is now {{ tier_name }}.",
    ),
    EventKind.ACCESS_REVOKED: (
        "Your account is suspended",
        "Hello {{ name }}: your {{ program_name }} account is suspended. Contact us if unsure.",
    ),
    EventKind.CAMPAIGN: ("{{ title }}", "{{ body }}"),
}
_UNSUBSCRIBE = {
    "zh-CN": "\n\n退订：{{ unsubscribe_url }}",
    "en": "\n\nUnsubscribe: {{ unsubscribe_url }}",
}
_SMS_STOP = {"zh-CN": " 回T退订", "en": " Reply T to stop"}


def default_template(kind: EventKind, channel: Channel, language: str) -> MessageTemplate:
    subject, body = (_ZH if language == "zh-CN" else _EN)[kind]
    html = None
    if kind is EventKind.CAMPAIGN:
        if channel is Channel.EMAIL:
            body += _UNSUBSCRIBE[language]
            html = '<p>{{ body }}</p><p><a href="{{ unsubscribe_url }}">退订 / Unsubscribe</a></p>'
        elif channel is Channel.SMS:
            body += _SMS_STOP[language]
    elif channel is Channel.EMAIL:
        html = "<p>" + body + "</p>"
    return MessageTemplate(kind, channel, language, body=body, subject=subject, html=html)


def _key(kind: EventKind, channel: Channel, language: str) -> str:
    return f"{kind.value}:{channel.value}:{language}"


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise UnknownLanguage(language)
    return language


async def get_template(
    mongo: Mongo, kind: EventKind, channel: Channel, language: str
) -> MessageTemplate:
    document = await mongo["message_templates"].find_one({"_id": _key(kind, channel, language)})
    if document is None:
        return default_template(kind, channel, language)
    return _from_document(document)


def _from_document(document: Document) -> MessageTemplate:
    return MessageTemplate(
        kind=EventKind(document["kind"]),
        channel=Channel(document["channel"]),
        language=document["language"],
        body=document["body"],
        subject=document.get("subject") or "",
        html=document.get("html"),
        sms_template_code=document.get("sms_template_code"),
        sms_params=tuple(document.get("sms_params") or ()),
        stored=True,
    )


def check(template: MessageTemplate) -> None:
    """The save-time checks of app/channels, per part: InvalidTemplate names the part and line."""
    declared = VARIABLES[template.kind]
    body_format = TemplateFormat.SMS if template.channel is Channel.SMS else TemplateFormat.TEXT
    parts: list[tuple[str, str, TemplateFormat]] = [("body", template.body, body_format)]
    if template.subject:
        parts.append(("subject", template.subject, TemplateFormat.TEXT))
    if template.html is not None:
        parts.append(("html", template.html, TemplateFormat.HTML))
    for field_name, source, template_format in parts:
        try:
            check_template(source, declared, template_format)
        except TemplateError as exc:
            raise InvalidTemplate(field_name, str(exc), exc.line) from None
    unknown = [name for name in template.sms_params if name not in declared]
    if unknown:
        raise InvalidTemplate("sms_params", f"{unknown[0]} is not a variable of {template.kind}")
    if template.html is not None and template.channel is not Channel.EMAIL:
        raise InvalidTemplate("html", "only an e-mail has an HTML part")


async def save_template(
    mongo: Mongo, clock: Clock, template: MessageTemplate, *, actor: str = "system"
) -> MessageTemplate:
    """Check, then store (replacing the kind's template in that channel and language), audited."""
    check_language(template.language)
    check(template)
    key = _key(template.kind, template.channel, template.language)
    document: Document = {
        "kind": template.kind.value,
        "channel": template.channel.value,
        "language": template.language,
        "body": template.body,
        "subject": template.subject,
        "html": template.html,
        "sms_template_code": template.sms_template_code,
        "sms_params": list(template.sms_params),
    }

    async def work(session: AsyncClientSession) -> None:
        before = await mongo["message_templates"].find_one({"_id": key}, session=session)
        await mongo["message_templates"].replace_one(
            {"_id": key}, {**document, "updated_at": clock.now()}, upsert=True, session=session
        )
        await record_audit(
            mongo,
            clock,
            actor=actor,
            action="message_template.save",
            target=f"message_template:{key}",
            before={k: v for k, v in (before or {}).items() if k in document} or None,
            after=document,
            session=session,
        )

    await mongo.transaction(work)
    return MessageTemplate(**{**template.__dict__, "stored": True})


def render_template(
    template: MessageTemplate, variables: Mapping[str, Value], zone: str
) -> Rendered:
    declared = VARIABLES[template.kind]
    values = {name: value for name, value in variables.items() if name in declared}
    if template.channel is Channel.SMS:
        text = render(template.body, values, zone, TemplateFormat.SMS)
        params = {name: _param_text(values[name], zone) for name in template.sms_params}
        return Rendered(
            subject="",
            text=text,
            sms_params=params,
            sms_template_code=template.sms_template_code,
            sms_parts=sms_parts(text),
        )
    subject = render(template.subject, values, zone) if template.subject else ""
    text = render(template.body, values, zone)
    html = (
        render(template.html, values, zone, TemplateFormat.HTML)
        if template.html is not None
        else None
    )
    return Rendered(subject=subject, text=text, html=html)


def _param_text(value: Value, zone: str) -> str:
    if isinstance(value, datetime):
        return render("{{ v|date }}", {"v": value}, zone)
    return str(value)
