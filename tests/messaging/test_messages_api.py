"""The messaging fields over GraphQL: a member's preferences, operators' messages, totals,
retries and templates, refusals through the one table."""

from __future__ import annotations

import httpx

from app.auth import PrincipalKind, TokenIssuer
from app.clock import FrozenClock
from app.messaging import Links, Transports, deliver_due, route_new
from app.notifications import issue_expiry_warnings
from app.runtime import Runtime
from graphql_schema.ids import to_global_id
from tests.api.gql import ask, codes, data, earn_points, make_program, member_token

PREFERENCES = """{ me { notificationPreferences { marketingConsent language
  settings { channel kind enabled marketing } } } }"""
UPDATE = """mutation($i: UpdateNotificationPreferencesInput!) { updateNotificationPreferences(input: $i) {
  preferences { marketingConsent language settings { channel kind enabled } }
  userErrors { code field message } } }"""
MESSAGES = """query($m: ID!) { memberMessages(memberId: $m) { id channel kind status reason transport
  text } messageTotals { channel kind status count } }"""
RETRY = """mutation($id: ID!) { retryMessage(input: {messageId: $id}) { message { status attempts }
  userErrors { code field } } }"""
UPSERT = """mutation($i: MessageTemplateInput!) { upsertMessageTemplate(input: $i) {
  template { kind channel language body stored } userErrors { code field message } } }"""
PREVIEW = """query($m: ID!, $t: MessageTemplateInput!) { previewMessageTemplate(memberId: $m, template: $t) {
  text smsParts smsParams } }"""


async def _member(runtime: Runtime, clock: FrozenClock) -> str:
    from app.members import create_member

    member = await create_member(
        runtime.mongo, clock, name="李雷", tier="member", phone="+8613800138000"
    )
    return member.id


async def test_a_member_reads_and_updates_their_notification_preferences(
    client: httpx.AsyncClient, runtime: Runtime, issuer: TokenIssuer, clock: FrozenClock
) -> None:
    await make_program(runtime, clock)
    token = member_token(issuer, await _member(runtime, clock))
    before = data(await ask(client, PREFERENCES, token))["me"]["notificationPreferences"]
    assert before["marketingConsent"] is False and before["language"] is None
    assert all(s["enabled"] for s in before["settings"])
    assert {"channel": "EMAIL", "kind": "CAMPAIGN", "enabled": True, "marketing": True} in before[
        "settings"
    ]

    chosen = {
        "optOuts": [{"channel": "SMS", "kind": "EXPIRY_WARNING"}],
        "marketingConsent": True,
        "language": "en",
    }
    updated = data(await ask(client, UPDATE, token, {"i": chosen}))["updateNotificationPreferences"]
    assert updated["userErrors"] == []
    off = [s for s in updated["preferences"]["settings"] if not s["enabled"]]
    assert off == [{"channel": "SMS", "kind": "EXPIRY_WARNING", "enabled": False}]
    assert updated["preferences"]["language"] == "en"

    every = [{"channel": c, "kind": "TIER_CHANGED"} for c in ("PUSH", "SMS", "EMAIL")]
    refused = data(await ask(client, UPDATE, token, {"i": {"optOuts": every}}))
    assert refused["updateNotificationPreferences"]["userErrors"][0]["code"] == "VALIDATION"
    assert refused["updateNotificationPreferences"]["userErrors"][0]["field"] == [
        "input",
        "optOuts",
    ]
    bad = data(await ask(client, UPDATE, token, {"i": {"language": "fr"}}))
    assert bad["updateNotificationPreferences"]["userErrors"][0]["field"] == ["input", "language"]
    assert codes(await ask(client, PREFERENCES, None)) == ["UNAUTHENTICATED"]


async def test_operators_see_a_members_messages_totals_and_retry_a_dead_letter(
    client: httpx.AsyncClient, runtime: Runtime, issuer: TokenIssuer, clock: FrozenClock
) -> None:
    from app.ledger import Rolling

    await make_program(runtime, clock)
    member_id = await _member(runtime, clock)
    await earn_points(runtime, clock, member_id, 300, "e1", policy=Rolling(days=3))
    await issue_expiry_warnings(runtime.mongo, clock)
    await route_new(runtime.mongo, clock, Links(b"k" * 32, "http://127.0.0.1"))
    await deliver_due(runtime.mongo, clock, Transports())
    reader = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["messages:read"])
    writer = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["messages:write"])
    global_member = to_global_id("Member", member_id)

    body = data(await ask(client, MESSAGES, reader, {"m": global_member}))
    by_channel = {m["channel"]: m for m in body["memberMessages"]}
    assert (by_channel["SMS"]["status"], by_channel["SMS"]["transport"]) == ("sent", "dev-inbox")
    assert (by_channel["PUSH"]["status"], by_channel["PUSH"]["reason"]) == ("suppressed", "consent")
    assert {"channel": "SMS", "kind": "EXPIRY_WARNING", "status": "sent", "count": 1} in body[
        "messageTotals"
    ]
    assert codes(await ask(client, MESSAGES, writer, {"m": global_member})) == ["FORBIDDEN"]

    sms_id = by_channel["SMS"]["id"]
    not_dead = data(await ask(client, RETRY, writer, {"id": sms_id}))["retryMessage"]
    assert not_dead["userErrors"] == [{"code": "VALIDATION", "field": ["input", "messageId"]}]
    await runtime.mongo["messages"].update_one(
        {"member_id": member_id, "channel": "sms"}, {"$set": {"status": "failed"}}
    )
    retried = data(await ask(client, RETRY, writer, {"id": sms_id}))["retryMessage"]
    assert retried == {"message": {"status": "queued", "attempts": 0}, "userErrors": []}
    assert await runtime.mongo["audit"].count_documents({"action": "message.retry"}) == 1
    missing = data(await ask(client, RETRY, writer, {"id": to_global_id("Message", "nope")}))
    assert missing["retryMessage"]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_operators_save_and_preview_templates(
    client: httpx.AsyncClient, runtime: Runtime, issuer: TokenIssuer, clock: FrozenClock
) -> None:
    await make_program(runtime, clock)
    member_id = await _member(runtime, clock)
    reader = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["messages:read"])
    writer = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["messages:write"])
    template = {
        "kind": "EXPIRY_WARNING",
        "channel": "SMS",
        "language": "zh-CN",
        "body": "{{ name }}：{{ points }} 积分 {{ expires_on|date('%m月%d日') }} 过期",
        "smsTemplateCode": "SMS_100001",
        "smsParams": ["name", "points"],
    }
    saved = data(await ask(client, UPSERT, writer, {"i": template}))["upsertMessageTemplate"]
    assert saved["userErrors"] == [] and saved["template"]["stored"] is True
    assert await runtime.mongo["audit"].count_documents({"action": "message_template.save"}) == 1

    rendered = data(
        await ask(client, PREVIEW, reader, {"m": to_global_id("Member", member_id), "t": template})
    )["previewMessageTemplate"]
    assert rendered["text"] == "李雷：1200 积分 01月22日 过期"  # sample values, Shanghai dates
    assert rendered["smsParts"] == 1 and rendered["smsParams"] == ["name=李雷", "points=1200"]

    hostile = {**template, "body": "{{ name.__class__ }}"}
    refused = data(await ask(client, UPSERT, writer, {"i": hostile}))["upsertMessageTemplate"]
    assert refused["userErrors"][0]["code"] == "VALIDATION"
    assert refused["userErrors"][0]["field"] == ["input", "body"]
    undeclared = {**template, "body": "{{ balance }}"}
    assert codes(
        await ask(
            client, PREVIEW, reader, {"m": to_global_id("Member", member_id), "t": undeclared}
        )
    ) == ["VALIDATION"]


POLICY = """{ messagingPolicy { routes { kind groups } quietStart quietEnd quietChannels
  dailyCaps { channel perDay } deviceSeenWithinDays language routeWithinHours } }"""
UPDATE_POLICY = """mutation($i: MessagingPolicyInput!) { updateMessagingPolicy(input: $i) {
  policy { routes { kind groups } quietStart quietEnd dailyCaps { channel perDay } }
  userErrors { code field message } } }"""


async def test_operators_read_and_change_the_rules_of_sending(
    client: httpx.AsyncClient, runtime: Runtime, issuer: TokenIssuer, clock: FrozenClock
) -> None:
    reader = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["messages:read"])
    writer = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["messages:write"])
    policy = data(await ask(client, POLICY, reader))["messagingPolicy"]
    assert {"kind": "EXPIRY_WARNING", "groups": [["PUSH", "SMS"], ["EMAIL"]]} in policy["routes"]
    assert (policy["quietStart"], policy["quietEnd"], policy["deviceSeenWithinDays"]) == (
        "21:00",
        "09:00",
        30,
    )
    change = {
        "routes": [{"kind": "EXPIRY_WARNING", "groups": [["SMS"], ["EMAIL"]]}],
        "quietStart": "22:30",
        "dailyCaps": [{"channel": "SMS", "perDay": 1}],
    }
    updated = data(await ask(client, UPDATE_POLICY, writer, {"i": change}))["updateMessagingPolicy"]
    assert updated["userErrors"] == []
    assert {"kind": "EXPIRY_WARNING", "groups": [["SMS"], ["EMAIL"]]} in updated["policy"]["routes"]
    assert {"kind": "TIER_CHANGED", "groups": [["PUSH"], ["EMAIL"]]} in updated["policy"]["routes"]
    assert updated["policy"]["quietStart"] == "22:30" and updated["policy"]["quietEnd"] == "09:00"
    assert {"channel": "SMS", "perDay": 1} in updated["policy"]["dailyCaps"]
    assert await runtime.mongo["audit"].count_documents({"action": "messaging_policy.update"}) == 1

    for bad, field in (
        ({"quietEnd": "25:00"}, ["input", "quietEnd"]),
        ({"routes": [{"kind": "CAMPAIGN", "groups": [[]]}]}, ["input", "routes"]),
        ({"dailyCaps": [{"channel": "PUSH", "perDay": 1000}]}, ["input", "dailyCaps"]),
        ({"language": "fr"}, ["input", "language"]),
    ):
        refused = data(await ask(client, UPDATE_POLICY, writer, {"i": bad}))
        [error] = refused["updateMessagingPolicy"]["userErrors"]
        assert (error["code"], error["field"]) == ("VALIDATION", field), bad
    assert codes(await ask(client, UPDATE_POLICY, reader, {"i": {"language": "en"}})) == [
        "FORBIDDEN"
    ]
