"""Points per store over HTTP: purchases keep the store their till named on their EARN entry,
and `reports { byStore }` sums them (a refund's reversal under the refunded purchase's store is
not named, so it shows in the store's earns only); purchases naming no store are left out."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.api.gql import ask, data, make_member
from tests.api.test_points_admin import admin
from tests.partners.api import make_program, partner_token, post_purchase, purchase_input

STORES = """{ reports { byStore(from: "2026-03-01", to: "2026-03-31") {
  csv rows { store issued reversed entries } } } }"""


async def test_points_per_store(client, runtime, clock, issuer) -> None:
    clock.set(datetime(2026, 3, 20, tzinfo=UTC))
    await make_program(runtime, clock)
    member = await make_member(runtime, clock)
    token = await partner_token(runtime, clock, issuer)
    for n, (store, amount) in enumerate([("s1", "100"), ("s1", "50"), ("s2", "30"), (None, "70")]):
        sent = {} if store is None else {"storeId": store}
        body = purchase_input(member, f"o{n}", at="2026-03-10T02:00:00Z", amounts=(amount,), **sent)
        assert (await post_purchase(client, token, body))["userErrors"] == []
    entries = await runtime.mongo["ledger"].find({"kind": "EARN"}).to_list()
    assert sorted(e.get("store") or "" for e in entries) == ["", "s1", "s1", "s2"]
    report = data(await ask(client, STORES, admin(issuer, "reports:read")))["reports"]["byStore"]
    assert report["rows"] == [
        {"store": "s1", "issued": 150, "reversed": 0, "entries": 2},
        {"store": "s2", "issued": 30, "reversed": 0, "entries": 1},
    ]
    assert report["csv"].splitlines()[0] == "store,issued,reversed,entries"
