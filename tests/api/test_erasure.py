"""Erasure leaves no personal data anywhere: a member who used every feature is erased, then every
string (and every stored file) of every collection is searched for their name, phones in every
form, e-mail, birthday and device token, and none is found. The books stay whole, the erasure is
audited without the data, a second erasure changes nothing, and an erasure cut off by the
database half-way leaves nothing behind once retried."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from bson import Binary
from pymongo.errors import PyMongoError

from app.auth import PrincipalKind, TokenIssuer
from app.clock import FrozenClock
from app.db import Mongo
from app.importer import run_due_import
from app.ledger import get_balance, verify_balances
from app.members import create_member
from app.messaging import Links, route_new
from app.privacy import UNFINISHED_AFTER, erase_member
from app.rewards import Reward, RewardKind
from app.runtime import Runtime
from app.worker.schedule import erasures
from graphql_schema.ids import to_global_id
from tests.api.gql import ask, data, earn_points, make_reward
from tests.api.test_sign_in import LOG_IN, REFRESH
from tests.engagement.api import CHECK_IN, make_program
from tests.faults import fail_point
from tests.importer.test_upload import multipart, upload, uploader
from tests.partners.api import partner_token, post_purchase, purchase_input

NAME, RENAMED = "Han Meimei", "Han Mei-mei"
PHONE, NEW_PHONE = "13800138001", "13900139002"  # mainland mobiles, stored as +86...
EMAIL, BIRTHDAY = "Meimei.Han@Example.cn", "1991-07-23"
DEVICE = "apns-device-token-meimei-0001"
BYSTANDER = ("Li Lei", "13700137003", "li.lei@example.cn")

ADMIN = [
    "members:read",
    "members:write",
    "audit:read",
    "points:write",
    "draws:write",
    "import:write",
    "catalog:write",
]
SIGN_UP = """mutation($i: SignUpInput!) { signUp(input: $i) {
  session { accessToken refreshToken } member { id } userErrors { code } } }"""
UPDATE_PROFILE = """mutation($i: UpdateProfileInput!) { updateProfile(input: $i) {
  userErrors { code field } } }"""
UPDATE_MEMBER = """mutation($i: UpdateMemberInput!) { updateMember(input: $i) {
  userErrors { code field } } }"""
ERASE = """mutation($i: MemberStatusInput!) { eraseMember(input: $i) {
  member { name phone email birthday status } userErrors { code field } } }"""
EXPORT = "mutation($i: ExportMemberInput!) { exportMember(input: $i) { data userErrors { code } } }"
REGISTER = """mutation($t: String!) { registerPushToken(input: {platform: IOS, token: $t}) {
  ok userErrors { code } } }"""
CONSENT = (
    """mutation { setNotificationConsent(input: {granted: true}) { ok userErrors { code } } }"""
)
REDEEM = """mutation($i: RedeemRewardInput!) { redeemReward(input: $i) {
  redemption { id } userErrors { code } } }"""
SAVE_ADDRESS = """mutation($i: SaveAddressInput!) { saveAddress(input: $i) {
  userErrors { code } } }"""
CANCEL = """mutation($i: CancelRedemptionInput!) { cancelRedemption(input: $i) {
  redemption { status } userErrors { code } } }"""
ADJUST = """mutation($i: AdjustPointsInput!) { adjustPoints(input: $i) {
  entry { points } userErrors { code } } }"""
DRAW = """mutation($i: CreateDrawInput!) { createDraw(input: $i) { draw { id } userErrors { code } } }"""
ENTER = """mutation($i: EnterDrawInput!) { enterDraw(input: $i) { entry { id } userErrors { code } } }"""
IMPORT_HEADER = "legacy_id,phone,name,email,birthday,tier,joined_at\n"
IMPORT = """mutation($i: ImportMembersInput!) { importMembers(input: $i) {
  membersImported membersUnchanged errors { line field message } } }"""


def forms(national: str) -> list[str]:
    """A mainland mobile as it may be written anywhere: E.164, with 0086, national, spaced."""
    spaced = f"{national[:3]} {national[3:7]} {national[7:]}"
    return [f"+86{national}", f"0086{national}", national, spaced, spaced.replace(" ", "-")]


NEEDLES = [NAME, RENAMED, *forms(PHONE), *forms(NEW_PHONE), EMAIL, EMAIL.lower(), BIRTHDAY, DEVICE]


def strings(value: Any) -> list[str]:
    """Every string in a document, at any depth: keys, values, and stored files' bytes as text."""
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in [str(key), *strings(item)]]
    if isinstance(value, list | tuple):
        return [s for item in value for s in strings(item)]
    if isinstance(value, Binary | bytes):
        return [bytes(value).decode("utf-8", "replace")]
    return [value] if isinstance(value, str) else []


async def personal_data(mongo: Mongo, needles: list[str]) -> list[tuple[str, str, str]]:
    """(collection, document id, needle) wherever a needle occurs, in every collection there is."""
    found = []
    pattern = re.compile("|".join(re.escape(needle) for needle in needles), re.IGNORECASE)
    for name in sorted(await mongo.db.list_collection_names()):
        async for document in mongo[name].find():
            for text in strings(document):
                for match in pattern.finditer(text):
                    found.append((name, str(document.get("_id")), match.group()))
    return found


async def _do(client: httpx.AsyncClient, query: str, token: str | None, **i: Any) -> Any:
    body = data(await ask(client, query, token, {"i": i} if i else None))
    return next(iter(body.values()))


async def _member_who_used_everything(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> tuple[str, str]:
    """The member's id and an operator's token, after sign-up, log-ins (five failed), a profile,
    a device, points, a tier change, a check-in, a redemption, a draw, a partner purchase named by
    phone, an operator's adjustment, cancellation and profile change, uploads that name them and
    an export."""
    mongo = runtime.mongo
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)
    signed = await _do(client, SIGN_UP, None, phone=PHONE, password="correct horse", name=NAME)
    member_id = signed["member"]["id"]
    raw_id = (await mongo["members"].find_one({"phone": f"+86{PHONE}"}))["_id"]
    token = signed["session"]["accessToken"]
    refresh = {"token": signed["session"]["refreshToken"]}
    assert data(await ask(client, REFRESH, variables=refresh))["refreshSession"]["session"]
    for _ in range(5):  # a lock on the phone, kept in the sign-in throttle
        await ask(client, LOG_IN, variables={"input": {"phone": PHONE, "password": "guess!!!"}})
    assert (await _do(client, UPDATE_PROFILE, token, email=EMAIL, birthday=BIRTHDAY)) == {
        "userErrors": []
    }
    assert data(await ask(client, REGISTER, token, {"t": DEVICE}))["registerPushToken"]["ok"]
    assert data(await ask(client, CONSENT, token))["setNotificationConsent"]["ok"]
    await earn_points(runtime, clock, raw_id, 400, "welcome")  # a tier change, pushed to the device
    checked = data(await ask(client, CHECK_IN, token, {"key": "c1"}))["checkIn"]
    assert checked["userErrors"] == []
    await make_reward(
        runtime,
        Reward(
            id="r_cafe",
            name="Coffee",
            points_price=50,
            kind=RewardKind.COUPON,
            coupon_validity_days=30,
        ),
    )
    redeemed = await _do(
        client, REDEEM, token, rewardId=to_global_id("Reward", "r_cafe"), idempotencyKey="r1"
    )
    assert redeemed["userErrors"] == []
    cancelled = await _do(
        client,
        CANCEL,
        admin,
        redemptionId=redeemed["redemption"]["id"],
        reason=f"{NAME} ({EMAIL}) changed her mind",
    )
    assert cancelled["userErrors"] == []
    again = await _do(
        client, REDEEM, token, rewardId=to_global_id("Reward", "r_cafe"), idempotencyKey="r2"
    )
    assert again["userErrors"] == []
    # goods sent to their address, and the address kept in their book (docs/fulfilment.md)
    await make_reward(runtime, Reward(id="r_mug", name="Mug", points_price=20, ships=True))
    address = {"name": NAME, "phone": PHONE, "line1": f"{NAME}, 1 Nanjing Road", "city": "上海",
               "region": "上海市", "postalCode": "200001", "country": "CN"}  # fmt: skip
    shipped = await _do(client, REDEEM, token, rewardId=to_global_id("Reward", "r_mug"),
                        idempotencyKey="r3", shippingAddress=address)  # fmt: skip
    assert shipped["userErrors"] == []
    saved = await _do(client, SAVE_ADDRESS, token, address=address)
    assert saved["userErrors"] == []
    now = clock.now()
    draw = await _do(
        client,
        DRAW,
        admin,
        name="Wheel",
        cost=10,
        startsAt=now.isoformat(),
        endsAt=(now + timedelta(days=7)).isoformat(),
        idempotencyKey="d1",
        prizes=[{"id": "mug", "name": "Mug", "weight": 1, "stock": 5}],
        noPrizeWeight=1,
    )
    entered = await _do(client, ENTER, token, drawId=draw["draw"]["id"], idempotencyKey="e1")
    assert entered["userErrors"] == []
    till = await partner_token(runtime, clock, issuer)
    bought = await post_purchase(
        client,
        till,
        purchase_input(raw_id, "o-1", at=now.isoformat())
        | {"member": {"phone": f"{PHONE[:3]} {PHONE[3:7]} {PHONE[7:]}"}},
    )
    assert bought["userErrors"] == [], bought
    adjusted = await _do(
        client,
        ADJUST,
        admin,
        memberId=member_id,
        points=20,
        reason=f"{NAME} called from {PHONE} about {EMAIL}",
        idempotencyKey="a1",
    )
    assert adjusted["userErrors"] == []
    assert (
        await _do(client, UPDATE_MEMBER, admin, memberId=member_id, name=RENAMED, phone=NEW_PHONE)
    )["userErrors"] == []
    # An upload that names them, run (a refused row echoes their e-mail), and one still queued.
    shifted = f"X1,{NEW_PHONE},{RENAMED},,,,{EMAIL}\n"  # e-mail one column too far
    request = multipart("up-1", (IMPORT_HEADER + shifted).encode(), dry_run=True)
    request["files"]["0"] = (f"{EMAIL}.csv", *request["files"]["0"][1:])  # named after them
    response = await client.post("/graphql", headers=uploader(admin), **request)
    assert data(response.json())["startImport"]["userErrors"] == []
    await run_due_import(mongo, clock, owner="worker-1")
    queued = f"X2,{NEW_PHONE[:3]} {NEW_PHONE[3:7]} {NEW_PHONE[7:]},{RENAMED},{EMAIL},{BIRTHDAY},,\n"
    others = f"X3,{BYSTANDER[1]},{BYSTANDER[0]},{BYSTANDER[2]},,,\nX4,13600136004,Zhou Si,,,,\n"
    await upload(client, admin, "up-2", (IMPORT_HEADER + queued + others).encode())
    assert (await _do(client, EXPORT, admin, memberId=member_id))["userErrors"] == []
    return raw_id, admin


async def _erase(client: httpx.AsyncClient, admin: str, member_id: str, reason: str) -> Any:
    return await _do(
        client, ERASE, admin, memberId=to_global_id("Member", member_id), reason=reason
    )


async def _cut_off(mongo: Mongo, clock: FrozenClock, member_id: str, deletes_done: int) -> None:
    """An erasure the database fails after the member document is erased and some copies
    redacted: a delete fails."""
    with pytest.raises(PyMongoError):
        async with fail_point(
            mongo,
            {"skip": deletes_done, "times": 1},
            {"failCommands": ["delete"], "errorCode": 91, "errorLabels": []},
        ):
            await erase_member(mongo, clock, member_id, reason="PIPL request", actor="admin:ops")
    assert (await mongo["members"].find_one({"_id": member_id}))["status"] == "erased"
    assert await personal_data(mongo, NEEDLES) != []  # the cut left copies behind


async def _nothing_left(mongo: Mongo) -> None:
    left = await personal_data(mongo, NEEDLES)
    assert left == [], "\n".join(map(str, left))


async def _balance(mongo: Mongo, member_id: str, clock: FrozenClock) -> tuple[int, ...]:
    balance = await get_balance(mongo, member_id, clock.now())
    return (balance.available, balance.pending, balance.held, balance.debt, balance.lifetime_earned)


async def _books(mongo: Mongo, member_id: str) -> list[tuple[str, int]]:
    entries = mongo["ledger"].find({"member_id": member_id}).sort("seq", 1)
    return [(entry["kind"], entry["points"]) async for entry in entries]


@pytest.fixture
async def bystander(runtime: Runtime, clock: FrozenClock) -> str:
    name, phone, email = BYSTANDER
    member = await create_member(
        runtime.mongo, clock, name=name, tier="member", phone=f"+86{phone}", email=email
    )
    return member.id


async def test_an_erased_member_who_used_every_feature_leaves_no_personal_data_anywhere(
    client: httpx.AsyncClient,
    runtime: Runtime,
    clock: FrozenClock,
    issuer: TokenIssuer,
    bystander: str,
) -> None:
    mongo = runtime.mongo
    await make_program(runtime, clock)
    member_id, admin = await _member_who_used_everything(client, runtime, clock, issuer)
    await route_new(mongo, clock, Links(b"k" * 32, "http://127.0.0.1"))  # its messages
    where = {collection for collection, _, _ in await personal_data(mongo, NEEDLES)}
    assert {
        "members",
        "audit",
        "messages",
        "login_attempts",
        "login_locks",
        "import_jobs",
        "import_parts",
        "ledger",
    } <= where, where
    balance, books = await _balance(mongo, member_id, clock), await _books(mongo, member_id)
    clock.advance(timedelta(minutes=1))

    erased = await _erase(client, admin, member_id, f"PIPL request from {NAME}, {PHONE}")
    assert erased["userErrors"] == [] and erased["member"]["status"] == "ERASED"
    await _nothing_left(mongo)
    assert await _balance(mongo, member_id, clock) == balance  # the books are whole
    assert await _books(mongo, member_id) == books
    assert await verify_balances(mongo) == []
    [audited] = await mongo["audit"].find({"action": "member.erase"}).to_list(None)
    assert audited["target"] == f"member:{member_id}"
    assert {"name", "phone", "email", "birthday", "push_tokens"} <= set(audited["before"]["fields"])

    assert (await _erase(client, admin, member_id, "asked twice"))["userErrors"] == []
    assert await mongo["audit"].count_documents({"action": "member.erase"}) == 1
    left = {needle.lower() for _, _, needle in await personal_data(mongo, list(BYSTANDER))}
    assert left == {value.lower() for value in BYSTANDER}  # nobody else's data was touched
    # The queued upload imports the others, their lines numbered as uploaded; theirs is no row.
    job = await run_due_import(mongo, clock, owner="worker-1")
    assert job is not None and job.summary is not None and job.summary["members_imported"] == 1
    assert [(e["line"], e["field"]) for e in job.errors] == [(3, "phone")]  # X3's phone is taken
    assert await mongo["members"].count_documents({"legacy_id": "X4"}) == 1


@pytest.mark.parametrize("deletes_done", [0, 3])
async def test_an_erasure_cut_off_half_way_leaves_nothing_once_asked_again(
    client: httpx.AsyncClient,
    runtime: Runtime,
    clock: FrozenClock,
    issuer: TokenIssuer,
    deletes_done: int,
) -> None:
    mongo = runtime.mongo
    await make_program(runtime, clock)
    member_id, admin = await _member_who_used_everything(client, runtime, clock, issuer)
    await _cut_off(mongo, clock, member_id, deletes_done)
    assert (await _erase(client, admin, member_id, "asked again"))["userErrors"] == []
    await _nothing_left(mongo)
    assert await mongo["audit"].count_documents({"action": "member.erase"}) == 1
    assert await mongo["erasures"].count_documents({}) == 0


async def test_the_worker_finishes_an_erasure_whose_request_was_cut_off(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    mongo = runtime.mongo
    await make_program(runtime, clock)
    member_id, _ = await _member_who_used_everything(client, runtime, clock, issuer)
    await _cut_off(mongo, clock, member_id, 0)
    assert (await erasures(mongo, clock)).handled == 0  # its request may still be running
    clock.advance(UNFINISHED_AFTER + timedelta(seconds=1))
    assert (await erasures(mongo, clock)).handled == 1
    await _nothing_left(mongo)
    assert (await erasures(mongo, clock)).handled == 0


async def test_a_reimport_after_erasure_refuses_the_row_and_stores_nothing_of_theirs(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    mongo = runtime.mongo
    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)
    row = f"L1,{PHONE},{NAME},{EMAIL},{BIRTHDAY},,\n"
    files = {
        "membersCsv": IMPORT_HEADER + row,
        "balancesCsv": "legacy_id,points,earned_at,expires_at\nL1,100,2026-01-01,\n",
    }
    first = await _do(client, IMPORT, admin, **files)
    assert first["membersImported"] == 1
    [member] = await mongo["members"].find({"legacy_id": "L1"}).to_list(None)
    assert (await _erase(client, admin, member["_id"], "PIPL request"))["userErrors"] == []

    again = await _do(client, IMPORT, admin, **files)
    assert (again["membersImported"], again["membersUnchanged"]) == (0, 0)
    assert again["errors"] == [
        {"line": 2, "field": "legacy_id", "message": "this member was erased: not imported again"}
    ]
    assert await mongo["members"].count_documents({}) == 1
    await _nothing_left(mongo)


async def test_create_member_replayed_after_erasure_answers_the_erased_member(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)
    create = """mutation($i: CreateMemberInput!) { createMember(input: $i) {
      member { id name } userErrors { code } } }"""
    given = {"name": NAME, "phone": PHONE, "email": EMAIL, "idempotencyKey": "crm-1"}
    made = await _do(client, create, admin, **given)
    await _do(client, ERASE, admin, memberId=made["member"]["id"], reason="PIPL request")
    replayed = await _do(client, create, admin, **given)
    assert replayed["userErrors"] == [] and replayed["member"]["id"] == made["member"]["id"]
    assert await runtime.mongo["members"].count_documents({}) == 1


async def test_a_member_erased_before_copies_were_redacted_is_redacted_by_a_second_erasure(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock, issuer: TokenIssuer
) -> None:
    mongo = runtime.mongo
    await make_program(runtime, clock)
    admin = issuer.mint(PrincipalKind.ADMIN, "ops", scopes=ADMIN)
    create = """mutation($i: CreateMemberInput!) { createMember(input: $i) {
      member { id } userErrors { code } } }"""
    made = await _do(client, create, admin, name=NAME, phone=PHONE, idempotencyKey="crm-1")
    member_id = made["member"]["id"]
    await _do(client, UPDATE_MEMBER, admin, memberId=member_id, phone=NEW_PHONE, email=EMAIL)
    for _ in range(5):  # a lock under the new phone
        await ask(client, LOG_IN, variables={"input": {"phone": NEW_PHONE, "password": "guess!!!"}})
    # As the earlier erasure left it: the member document erased, every copy where it was.
    raw_id = (await mongo["members"].find_one({"member_no": {"$exists": True}}))["_id"]
    await mongo["members"].update_one(
        {"_id": raw_id},
        {
            "$set": {"status": "erased", "name": "已注销 Erased member"},
            "$unset": {"phone": "", "email": ""},
        },
    )
    assert await personal_data(mongo, NEEDLES) != []

    assert (await _erase(client, admin, raw_id, "finish the erasure"))["userErrors"] == []
    await _nothing_left(mongo)
    assert (await _erase(client, admin, raw_id, "and again"))["userErrors"] == []
    assert await mongo["audit"].count_documents({"action": "member.erase"}) == 0
