"""积分+现金 over HTTP: a reward priced as points plus money holds the points at redemption and
answers an order id; a partner's payment confirmation captures them (once, whatever the
retries), a failure or the window's end releases them and the stock; a confirmation after a
release is refused; a confirmation racing a failure makes exactly one of them happen."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx

from app.auth import PrincipalKind, TokenIssuer
from app.clock import FrozenClock
from app.ledger import get_balance, verify_balances
from app.runtime import Runtime
from tests.api.gql import ask, data, earn_points, make_member, make_program, member_token
from tests.partners.api import fresh_token, partner_token

ADMIN = ["catalog:read", "catalog:write"]
CREATE = """mutation($i: CreateRewardInput!) { createReward(input: $i) {
  reward { id cashPrice cashCurrency pointsPrice } userErrors { code field } } }"""
FIELDS = "id status points orderId cashTotal cashCurrency paymentDueAt"
REDEEM = f"""mutation($i: RedeemRewardInput!) {{ redeemReward(input: $i) {{
  redemption {{ {FIELDS} }} userErrors {{ code field message }} }} }}"""
CONFIRM = f"""mutation($i: ConfirmRedemptionPaymentInput!) {{ confirmRedemptionPayment(input: $i) {{
  redemption {{ {FIELDS} }} userErrors {{ code field message }} }} }}"""
FAIL = f"""mutation($i: FailRedemptionPaymentInput!) {{ failRedemptionPayment(input: $i) {{
  redemption {{ {FIELDS} }} userErrors {{ code field message }} }} }}"""


async def _do(client: httpx.AsyncClient, query: str, token: str, **i: Any) -> dict[str, Any]:
    body = data(await ask(client, query, token, {"i": i}))
    payload: dict[str, Any] = next(iter(body.values()))
    return payload


def _codes(payload: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


async def _setup(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> tuple[str, str, str, str]:
    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)
    made = await _do(
        client, CREATE, admin, name="Blender", pointsPrice=2000, cashPrice="19.9", stock=3,
        idempotencyKey="blender",
    )  # fmt: skip
    assert made["reward"]["cashPrice"] == "19.90" and made["reward"]["cashCurrency"] == "CNY"
    member = await make_member(runtime, clock)
    await earn_points(runtime, clock, member, 7000, "e1")
    till = await partner_token(runtime, clock, issuer)
    return made["reward"]["id"], member, admin, till


async def _balance(runtime: Runtime, clock: FrozenClock, member: str) -> tuple[int, int]:
    balance = await get_balance(runtime.mongo, member, clock.now())
    return balance.available, balance.held


async def _stock(runtime: Runtime) -> int:
    reward = await runtime.mongo["rewards"].find_one({"name": "Blender"})
    assert reward is not None
    return int(reward["stock"])


async def test_cash_prices_are_bounded_decimal_strings(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)
    for n, bad in enumerate(["19.999", "0", "0.00", "1e3", "-1", "100000.01", "", "１９"]):
        refused = await _do(
            client, CREATE, admin, name="X", pointsPrice=10, cashPrice=bad, idempotencyKey=f"k{n}"
        )
        assert _codes(refused) == [("INVALID_INPUT", ["input", "cashPrice"])], bad
    coupon = await _do(
        client, CREATE, admin, name="C", pointsPrice=10, cashPrice="1", kind="COUPON",
        idempotencyKey="c",
    )  # fmt: skip
    assert [c for c, _ in _codes(coupon)] == ["INVALID_INPUT"]
    assert await runtime.mongo["rewards"].count_documents({}) == 0


async def test_points_are_held_then_captured_once_by_the_payment_confirmation(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    reward, member, _, till = await _setup(client, runtime, clock, issuer)
    token = member_token(issuer, member)
    made = await _do(client, REDEEM, token, rewardId=reward, idempotencyKey="r1")
    assert made["userErrors"] == [], made
    held = made["redemption"]
    assert (held["status"], held["points"], held["cashTotal"], held["cashCurrency"]) == (
        "AWAITING_PAYMENT",
        2000,
        "19.90",
        "CNY",
    )
    assert held["orderId"].startswith("po_") and held["paymentDueAt"] is not None
    assert await _do(client, REDEEM, token, rewardId=reward, idempotencyKey="r1") == made
    assert await _balance(runtime, clock, member) == (5000, 2000)
    assert await _stock(runtime) == 2

    confirms = await asyncio.gather(
        *(
            _do(client, CONFIRM, till, orderId=held["orderId"], paymentRef="wx-1",
                idempotencyKey=f"p{n}")
            for n in range(6)
        )
    )  # fmt: skip
    assert {c["redemption"]["status"] for c in confirms} == {"COMPLETED"}, confirms
    assert await _balance(runtime, clock, member) == (5000, 0)
    other = await _do(
        client, CONFIRM, till, redemptionId=held["id"], paymentRef="wx-2", idempotencyKey="p9"
    )
    assert _codes(other) == [("PAYMENT_REFUSED", ["input", "redemptionId"])]
    failed = await _do(client, FAIL, till, redemptionId=held["id"], reason="too late")
    assert _codes(failed) == [("PAYMENT_REFUSED", ["input", "redemptionId"])]
    assert await _balance(runtime, clock, member) == (5000, 0) and await _stock(runtime) == 2
    spent = await runtime.mongo["ledger"].count_documents({"member_id": member, "kind": "REDEEM"})
    assert spent == 1
    assert await verify_balances(runtime.mongo) == []


async def test_a_failure_or_the_window_releases_the_points_and_stock_and_refuses_a_late_payment(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    reward, member, _, till = await _setup(client, runtime, clock, issuer)
    token = member_token(issuer, member)
    one = (await _do(client, REDEEM, token, rewardId=reward, idempotencyKey="r1"))["redemption"]
    two = (await _do(client, REDEEM, token, rewardId=reward, idempotencyKey="r2"))["redemption"]
    assert await _balance(runtime, clock, member) == (3000, 4000) and await _stock(runtime) == 1

    failed = await _do(client, FAIL, till, orderId=one["orderId"], reason="card declined")
    assert failed["redemption"]["status"] == "CANCELLED"
    assert await _do(client, FAIL, till, orderId=one["orderId"], reason="again") == failed
    assert await _balance(runtime, clock, member) == (5000, 2000) and await _stock(runtime) == 2
    late = await _do(
        client, CONFIRM, till, orderId=one["orderId"], paymentRef="wx-1", idempotencyKey="p1"
    )
    assert _codes(late) == [("PAYMENT_REFUSED", ["input", "redemptionId"])]

    from app.rewards import release_unpaid  # noqa: PLC0415 - each test fails on its own without it

    clock.advance(timedelta(minutes=31))
    till = await fresh_token(runtime, issuer)
    after = await _do(
        client, CONFIRM, till, orderId=two["orderId"], paymentRef="wx-2", idempotencyKey="p2"
    )
    assert _codes(after) == [("PAYMENT_REFUSED", ["input", "redemptionId"])]
    assert await release_unpaid(runtime.mongo, clock) == 1
    assert await release_unpaid(runtime.mongo, clock) == 0
    found = await runtime.mongo["redemptions"].find_one({"order_id": two["orderId"]})
    assert found is not None and found["status"] == "cancelled"
    assert await _balance(runtime, clock, member) == (7000, 0) and await _stock(runtime) == 3
    assert await verify_balances(runtime.mongo) == []


async def test_a_confirmation_racing_a_failure_makes_exactly_one_happen(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    reward, member, _, till = await _setup(client, runtime, clock, issuer)
    token = member_token(issuer, member)
    made = (await _do(client, REDEEM, token, rewardId=reward, idempotencyKey="r"))["redemption"]
    answers = await asyncio.gather(
        *(
            _do(client, CONFIRM, till, orderId=made["orderId"], paymentRef="wx",
                idempotencyKey=f"p{n}")
            for n in range(4)
        ),
        *(_do(client, FAIL, till, orderId=made["orderId"], reason="declined") for _ in range(4)),
    )  # fmt: skip
    found = await runtime.mongo["redemptions"].find_one({"order_id": made["orderId"]})
    assert found is not None
    won = found["status"]
    assert won in ("completed", "cancelled")
    for answer in answers:
        if answer["userErrors"]:
            assert _codes(answer) == [("PAYMENT_REFUSED", ["input", "redemptionId"])]
        else:
            assert answer["redemption"]["status"] == won.upper()
    expected = (5000, 0) if won == "completed" else (7000, 0)
    assert await _balance(runtime, clock, member) == expected
    assert await _stock(runtime) == (2 if won == "completed" else 3)
    assert await verify_balances(runtime.mongo) == []


CANCEL = """mutation($i: CancelRedemptionInput!) { cancelRedemption(input: $i) {
  redemption { status } userErrors { code field } } }"""
MOVE = """mutation($i: UpdateRedemptionInput!) { updateRedemption(input: $i) {
  redemption { status } userErrors { code field } } }"""


async def test_paid_goods_that_ship_wait_to_be_sent_and_a_paid_redemption_gives_points_back(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    reward, member, admin, till = await _setup(client, runtime, clock, issuer)
    shipped = await _do(
        client, CREATE, admin, name="Kettle", pointsPrice=1000, cashPrice="9.90", ships=True,
        idempotencyKey="kettle",
    )  # fmt: skip
    token = member_token(issuer, member)
    address = {"name": "李雷", "phone": "13800000000", "line1": "人民路 1 号", "city": "杭州",
               "region": "浙江省", "postalCode": "310000", "country": "CN"}  # fmt: skip
    kettle = await _do(client, REDEEM, token, rewardId=shipped["reward"]["id"],
                       idempotencyKey="k", shippingAddress=address)  # fmt: skip
    assert kettle["redemption"]["status"] == "AWAITING_PAYMENT"
    not_yet = await _do(client, MOVE, admin, redemptionId=kettle["redemption"]["id"],
                        idempotencyKey="m0", status="CANCELLED", reason="x")  # fmt: skip
    assert _codes(not_yet) == [("ILLEGAL_TRANSITION", ["input", "status"])]
    paid = await _do(client, CONFIRM, till, orderId=kettle["redemption"]["orderId"],
                     paymentRef="ali-1", idempotencyKey="p")  # fmt: skip
    assert paid["redemption"]["status"] == "PENDING"
    back = await _do(client, MOVE, admin, redemptionId=kettle["redemption"]["id"],
                     idempotencyKey="m1", status="CANCELLED", reason="broken")  # fmt: skip
    assert back["redemption"]["status"] == "CANCELLED"

    blender = await _do(client, REDEEM, token, rewardId=reward, idempotencyKey="b")
    await _do(client, CONFIRM, till, redemptionId=blender["redemption"]["id"],
              paymentRef="ali-2", idempotencyKey="p2")  # fmt: skip
    assert await _balance(runtime, clock, member) == (5000, 0)
    cancelled = await _do(client, CANCEL, admin, redemptionId=blender["redemption"]["id"],
                          reason="refunded")  # fmt: skip
    assert cancelled["redemption"]["status"] == "CANCELLED"
    assert await _balance(runtime, clock, member) == (7000, 0)
    assert await verify_balances(runtime.mongo) == []


REFUND = """mutation($i: RefundRedemptionPaymentInput!) { refundRedemptionPayment(input: $i) {
  redemption { status cashRefunded pointsRefunded } userErrors { code field message } } }"""


async def test_cash_refunds_give_points_back_in_proportion_exactly_and_never_twice(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    """2,000 points + 19.90: refunds of 6.00, 6.00 and 7.90 give back 603 (2000 × 6/19.9 rounded
    down), 603 more (1,206 for 12.00) and the 794 left: 2,000 exactly."""
    reward, member, admin, till = await _setup(client, runtime, clock, issuer)
    token = member_token(issuer, member)
    made = (await _do(client, REDEEM, token, rewardId=reward, idempotencyKey="r"))["redemption"]
    refused = await _do(client, REFUND, till, orderId=made["orderId"], amount="1.00",
                        refundRef="rf-0", idempotencyKey="f0")  # fmt: skip
    assert _codes(refused) == [("PAYMENT_REFUSED", ["input", "redemptionId"])]  # not paid yet
    await _do(client, CONFIRM, till, orderId=made["orderId"], paymentRef="wx", idempotencyKey="p")
    assert await _balance(runtime, clock, member) == (5000, 0)

    async def refund(amount: str, key: str) -> dict[str, Any]:
        return await _do(client, REFUND, till, orderId=made["orderId"], amount=amount,
                         refundRef=f"rf-{key}", idempotencyKey=key)  # fmt: skip

    first = await refund("6.00", "f1")
    assert first["redemption"] == {
        "status": "COMPLETED",
        "cashRefunded": "6.00",
        "pointsRefunded": 603,
    }
    assert await _balance(runtime, clock, member) == (5603, 0)
    replays = await asyncio.gather(*(refund("6.00", "f1") for _ in range(5)))
    assert {r["redemption"]["pointsRefunded"] for r in replays} == {603}
    assert await _balance(runtime, clock, member) == (5603, 0)
    other = await _do(client, REFUND, till, orderId=made["orderId"], amount="1.00",
                      refundRef="rf-f1", idempotencyKey="f1")  # fmt: skip
    assert _codes(other) == [("IDEMPOTENCY_CONFLICT", ["input", "idempotencyKey"])]
    over = await refund("14.00", "f2")
    assert _codes(over) == [("OVER_REFUND", ["input", "amount"])]
    assert _codes(await refund("0", "f3")) == [("INVALID_INPUT", ["input", "amount"])]
    second = await refund("6.00", "f4")
    assert second["redemption"]["pointsRefunded"] == 1206
    last = await refund("7.90", "f5")
    assert last["redemption"] == {
        "status": "CANCELLED",
        "cashRefunded": "19.90",
        "pointsRefunded": 2000,
    }
    assert await _balance(runtime, clock, member) == (7000, 0) and await _stock(runtime) == 3
    assert _codes(await refund("0.01", "f6")) == [("PAYMENT_REFUSED", ["input", "redemptionId"])]
    cancel = await _do(client, CANCEL, admin, redemptionId=made["id"], reason="x")
    assert cancel["redemption"]["status"] == "CANCELLED"  # cancelled already: nothing more back
    assert await _balance(runtime, clock, member) == (7000, 0)
    assert await verify_balances(runtime.mongo) == []


async def test_a_return_after_a_partial_refund_gives_back_only_the_points_left(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    _, member, admin, till = await _setup(client, runtime, clock, issuer)
    kettle = await _do(
        client, CREATE, admin, name="Kettle", pointsPrice=1000, cashPrice="10.00", ships=True,
        idempotencyKey="kettle",
    )  # fmt: skip
    token = member_token(issuer, member)
    address = {"name": "李雷", "phone": "13800000000", "line1": "人民路 1 号", "city": "杭州",
               "region": "浙江省", "postalCode": "310000", "country": "CN"}  # fmt: skip
    made = (await _do(client, REDEEM, token, rewardId=kettle["reward"]["id"],
                      idempotencyKey="k", shippingAddress=address))["redemption"]  # fmt: skip
    await _do(client, CONFIRM, till, orderId=made["orderId"], paymentRef="wx", idempotencyKey="p")
    await _do(client, MOVE, admin, redemptionId=made["id"], idempotencyKey="s", status="SHIPPED",
              carrier="SF", trackingNumber="SF123456")  # fmt: skip
    assert await _balance(runtime, clock, member) == (6000, 0)
    part = await _do(client, REFUND, till, orderId=made["orderId"], amount="2.50",
                     refundRef="rf", idempotencyKey="f")  # fmt: skip
    assert part["redemption"]["pointsRefunded"] == 250
    assert await _balance(runtime, clock, member) == (6250, 0)
    back = await _do(client, MOVE, admin, redemptionId=made["id"], idempotencyKey="r",
                     status="RETURNED", reason="damaged")  # fmt: skip
    assert back["redemption"]["status"] == "RETURNED"
    assert await _balance(runtime, clock, member) == (7000, 0)
    assert await verify_balances(runtime.mongo) == []


async def test_refunds_racing_a_return_never_give_back_more_than_was_spent(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    _, member, admin, till = await _setup(client, runtime, clock, issuer)
    kettle = await _do(
        client, CREATE, admin, name="Kettle", pointsPrice=1000, cashPrice="10.00", ships=True,
        idempotencyKey="kettle",
    )  # fmt: skip
    token = member_token(issuer, member)
    address = {"name": "李雷", "phone": "13800000000", "line1": "人民路 1 号", "city": "杭州",
               "region": "浙江省", "postalCode": "310000", "country": "CN"}  # fmt: skip
    made = (await _do(client, REDEEM, token, rewardId=kettle["reward"]["id"],
                      idempotencyKey="k", shippingAddress=address))["redemption"]  # fmt: skip
    await _do(client, CONFIRM, till, orderId=made["orderId"], paymentRef="wx", idempotencyKey="p")
    await _do(client, MOVE, admin, redemptionId=made["id"], idempotencyKey="s", status="SHIPPED",
              carrier="SF", trackingNumber="SF123456")  # fmt: skip
    assert await _balance(runtime, clock, member) == (6000, 0)
    await asyncio.gather(
        *(
            _do(client, REFUND, till, orderId=made["orderId"], amount="1.00",
                refundRef=f"rf{n}", idempotencyKey=f"f{n}")
            for n in range(5)
        ),
        *(
            _do(client, MOVE, admin, redemptionId=made["id"], idempotencyKey=f"r{n}",
                status="RETURNED", reason="damaged")
            for n in range(3)
        ),
    )  # fmt: skip
    found = await runtime.mongo["redemptions"].find_one({"order_id": made["orderId"]})
    assert found is not None and found["status"] == "returned"
    # whatever the order, the points spent come back once: 1,000, no more
    assert await _balance(runtime, clock, member) == (7000, 0)
    assert await verify_balances(runtime.mongo) == []
