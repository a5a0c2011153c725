"""The operators' webhook fields over HTTP: scopes, the secret returned once, refusals as
userErrors through the one table, pause, test, replay, delete."""

from __future__ import annotations

from app.auth import PrincipalKind
from tests.api.gql import ask, codes, data

ADD = """mutation($input: AddWebhookEndpointInput!) { addWebhookEndpoint(input: $input) {
  endpoint { id url status eventTypes deliveries { ready waiting delivered dead } }
  secret userErrors { code field message } } }"""
PAUSE = """mutation($id: ID!) { pauseWebhookEndpoint(input: {endpointId: $id}) {
  endpoint { status } userErrors { code field } } }"""
TEST = """mutation($id: ID!) { testWebhookEndpoint(input: {endpointId: $id}) {
  deliveryId userErrors { code } } }"""
REPLAY = """mutation($id: ID!) { replayWebhookEndpoint(input: {endpointId: $id,
  since: "2026-01-02T00:00:00Z", until: "2026-01-01T00:00:00Z"}) { queued userErrors { code field } } }"""
DELETE = """mutation($id: ID!) { deleteWebhookEndpoint(input: {endpointId: $id}) {
  userErrors { code field } } }"""
LIST = "{ webhookEndpoints { id status eventTypes } webhookEventTypes { name version } }"


async def test_operators_manage_endpoints_through_the_admin_api(client, issuer) -> None:
    writer = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=["webhooks:write", "webhooks:read"])
    reader = issuer.mint(PrincipalKind.ADMIN, "viewer", scopes=["members:read"])
    wanted = {"url": "https://hooks.example.com/jifen", "eventTypes": ["points.earned"]}
    assert codes(await ask(client, ADD, reader, {"input": wanted})) == ["FORBIDDEN"]

    added = data(await ask(client, ADD, writer, {"input": wanted}))["addWebhookEndpoint"]
    assert added["userErrors"] == [] and added["secret"].startswith("whsec_")
    endpoint = added["endpoint"]
    assert endpoint["status"] == "active" and endpoint["deliveries"]["ready"] == 0
    listed = data(await ask(client, LIST, writer))
    assert [e["id"] for e in listed["webhookEndpoints"]] == [endpoint["id"]]
    assert {"name": "points.earned", "version": 1} in listed["webhookEventTypes"]

    refused = data(await ask(client, ADD, writer, {"input": {**wanted, "url": "http://x.com"}}))
    assert refused["addWebhookEndpoint"]["userErrors"][0]["code"] == "INVALID_INPUT"
    assert refused["addWebhookEndpoint"]["userErrors"][0]["field"] == ["input", "url"]

    variables = {"id": endpoint["id"]}
    paused = data(await ask(client, PAUSE, writer, variables))["pauseWebhookEndpoint"]
    assert paused["endpoint"]["status"] == "paused"
    pinged = data(await ask(client, TEST, writer, variables))["testWebhookEndpoint"]
    assert pinged["deliveryId"].startswith("msg_")
    backwards = data(await ask(client, REPLAY, writer, variables))["replayWebhookEndpoint"]
    assert backwards["userErrors"][0]["code"] == "INVALID_INPUT"
    assert data(await ask(client, DELETE, writer, variables))["deleteWebhookEndpoint"] == {
        "userErrors": []
    }
    gone = data(await ask(client, PAUSE, writer, variables))["pauseWebhookEndpoint"]
    assert gone["userErrors"] == [{"code": "NOT_FOUND", "field": ["input", "endpointId"]}]
