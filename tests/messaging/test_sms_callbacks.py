"""The SMS providers' callbacks over a real socket (the app served by uvicorn): delivery reports
move a sent SMS to delivered or failed, a STOP reply (回T退订) opts the member out of marketing
SMS; the URL's token, the bounds, replays and unknown ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from app.channels import MAX_CALLBACK_BYTES, MAX_CALLBACK_ITEMS, TencentSms, is_unsubscribe
from app.clock import FrozenClock
from app.config import Settings
from app.db import Mongo
from app.messaging import (
    Channel,
    EventKind,
    MessageTemplate,
    MessagingPolicy,
    OptOut,
    Transports,
    announce,
    deliver_due,
    get_preferences,
    route_new,
    save_template,
    set_policy,
    update_preferences,
)
from tests.channels.fake_aliyun import FakeDysmsapi
from tests.channels.fake_tencent import APP_ID, SECRET_ID, SECRET_KEY, FakeTencentSms
from tests.messaging.conftest import serving
from tests.messaging.test_delivery import LINKS, new_member, records, sms_transports, warn

TOKEN = "sms-callback-token-of-at-least-32-characters"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"sms_callback_token": SecretStr(TOKEN)})


async def post(served: str, path: str, body: Any, token: str | None = TOKEN) -> httpx.Response:
    query = {"token": token} if token is not None else {}
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    async with httpx.AsyncClient() as client:
        return await client.post(
            f"{served}{path}",
            params=query,
            content=raw,
            headers={"content-type": "application/json"},
        )


def aliyun_report(biz_id: str, *, success: bool, code: str, at: str) -> dict[str, Any]:
    return {
        "phone_number": "13800138000",
        "send_time": "2026-01-15 17:00:00",
        "report_time": at,
        "success": success,
        "err_code": code,
        "err_msg": "用户接收成功" if success else "用户拒收",
        "sms_size": "1",
        "biz_id": biz_id,
        "out_id": "",
    }


async def test_alibaba_reports_mark_an_sms_delivered_or_failed_once(
    mongo: Mongo,
    clock: FrozenClock,
    program: None,
    sms_fake: FakeDysmsapi,
    http: httpx.AsyncClient,
    served: str,
) -> None:
    received = await new_member(mongo, clock, phone="+8613800138000")
    refused = await new_member(mongo, clock, phone="+8613900139000")
    for member_id in (received, refused):
        await warn(mongo, clock, member_id, 500, days=3)
    assert await deliver_due(mongo, clock, sms_transports(sms_fake, http, clock)) == 2
    first = (await records(mongo, received))["sms"]
    second = (await records(mongo, refused))["sms"]
    assert first["status"] == second["status"] == "sent"

    reports = [
        aliyun_report(
            first["provider_id"], success=True, code="DELIVERED", at="2026-01-15 17:00:05"
        ),
        aliyun_report(
            second["provider_id"], success=False, code="MK:0001", at="2026-01-15 17:00:09"
        ),
        aliyun_report("1234567890^0", success=True, code="DELIVERED", at="2026-01-15 17:00:05"),
    ]
    answer = await post(served, "/hooks/sms/aliyun/report", reports)
    assert (answer.status_code, answer.json()) == (200, {"code": 0, "msg": "成功"})
    done = (await records(mongo, received))["sms"]
    assert (done["status"], done["delivered_at"]) == (
        "delivered",
        datetime(2026, 1, 15, 9, 0, 5, tzinfo=UTC),
    )
    failed = (await records(mongo, refused))["sms"]
    assert (failed["status"], failed["reason"], failed["error_code"], failed["error"]) == (
        "failed",
        "not_delivered",
        "MK:0001",
        "用户拒收",
    )

    # pushed again, even with another verdict: nothing changes
    reports[0] = aliyun_report(first["provider_id"], success=False, code="MK:0002", at="x")
    again = await post(served, "/hooks/sms/aliyun/report", reports)
    assert again.json() == {"code": 0, "msg": "成功"}
    assert (await records(mongo, received))["sms"] == done
    assert (await records(mongo, refused))["sms"] == failed


async def test_a_tencent_status_callback_marks_the_sms_by_its_serial_number(
    mongo: Mongo, clock: FrozenClock, program: None, http: httpx.AsyncClient, served: str
) -> None:
    await save_template(
        mongo,
        clock,
        MessageTemplate(
            EventKind.EXPIRY_WARNING,
            Channel.SMS,
            "zh-CN",
            body="{{ name }}，您有 {{ points }} 积分即将过期。",
            sms_template_code="1110",
            sms_params=("name", "points"),
        ),
    )
    member_id = await new_member(mongo, clock, phone="+8613800138000")
    await warn(mongo, clock, member_id, 500, days=3)
    fake = FakeTencentSms(clock)
    with fake.running():
        tencent = TencentSms(
            secret_id=SECRET_ID,
            secret_key=SECRET_KEY,
            sdk_app_id=APP_ID,
            clock=clock,
            endpoint=fake.url,
            client=http,
        )
        assert (
            await deliver_due(mongo, clock, Transports(sms=tencent, sms_sign_name="积分乐园")) == 1
        )
    sent = (await records(mongo, member_id))["sms"]
    assert (sent["status"], sent["transport"]) == ("sent", "tencent")
    callback = [
        {
            "user_receive_time": "2026-01-15 17:00:03",
            "nationcode": "86",
            "mobile": "13800138000",
            "report_status": "SUCCESS",
            "errmsg": "DELIVRD",
            "description": "用户短信送达成功",
            "sid": sent["provider_id"],
        }
    ]
    # an Alibaba report with Tencent's id is not Tencent's message
    await post(
        served,
        "/hooks/sms/aliyun/report",
        [
            aliyun_report(
                sent["provider_id"], success=True, code="DELIVERED", at="2026-01-15 17:00:03"
            )
        ],
    )
    assert (await records(mongo, member_id))["sms"]["status"] == "sent"
    answer = await post(served, "/hooks/sms/tencent/report", callback)
    assert (answer.status_code, answer.json()) == (200, {"result": 0, "errmsg": "OK"})
    done = (await records(mongo, member_id))["sms"]
    assert (done["status"], done["receipt"]["code"]) == ("delivered", "DELIVRD")


async def test_a_callback_without_the_token_or_out_of_bounds_changes_nothing(
    mongo: Mongo,
    clock: FrozenClock,
    program: None,
    sms_fake: FakeDysmsapi,
    http: httpx.AsyncClient,
    served: str,
) -> None:
    member_id = await new_member(mongo, clock, phone="+8613800138000")
    await warn(mongo, clock, member_id, 500, days=3)
    assert await deliver_due(mongo, clock, sms_transports(sms_fake, http, clock)) == 1
    sent = (await records(mongo, member_id))["sms"]
    report = [
        aliyun_report(sent["provider_id"], success=True, code="DELIVERED", at="2026-01-15 17:00:05")
    ]
    for token in (None, "", TOKEN[:-1], TOKEN + "x", "x" * len(TOKEN)):
        assert (await post(served, "/hooks/sms/aliyun/report", report, token)).status_code == 404
    assert (await post(served, "/hooks/sms/other/report", report)).status_code == 404
    assert (await post(served, "/hooks/sms/aliyun/other", report)).status_code == 404

    too_many = report * (MAX_CALLBACK_ITEMS + 1)
    refused = await post(served, "/hooks/sms/aliyun/report", too_many)
    assert refused.status_code == 400 and refused.json()["code"] != 0
    big = b"[" + b" " * MAX_CALLBACK_BYTES + b"]"
    assert (await post(served, "/hooks/sms/aliyun/report", big)).status_code == 413
    not_json = await post(served, "/hooks/sms/tencent/report", b"<xml/>")
    assert not_json.status_code == 400 and not_json.json()["result"] != 0
    assert (await records(mongo, member_id))["sms"]["status"] == "sent"


async def test_callbacks_answer_404_without_a_configured_token(
    mongo: Mongo, clock: FrozenClock, settings: Settings
) -> None:
    unset = settings.model_copy(update={"sms_callback_token": None})
    async with serving(unset, clock) as url:
        for token in (TOKEN, "", None):
            answer = await post(url, "/hooks/sms/aliyun/report", [], token)
            assert answer.status_code == 404


@pytest.mark.parametrize(
    ("text", "stops"),
    [
        ("T", True),
        (" td ", True),
        ("ＴＤ", True),  # full-width letters
        ("退订", True),
        ("　退订　", True),  # full-width spaces
        ("stop", True),
        ("Unsubscribe", True),
        ("n", True),
        ("谢谢", False),
        ("TD退订", False),
        ("", False),
        ("STOPPED", False),
    ],
)
def test_the_unsubscribe_words(text: str, stops: bool) -> None:
    assert is_unsubscribe(text) is stops


async def test_a_stop_reply_opts_the_member_out_of_marketing_sms_once(
    mongo: Mongo, clock: FrozenClock, program: None, served: str
) -> None:
    member_id = await new_member(mongo, clock, phone="+8613800138000")
    await update_preferences(mongo, clock, member_id, marketing_consent=True)
    replies = [
        {
            "phone_number": "13800138000",
            "send_time": "2026-01-15 17:05:00",
            "content": " ＴＤ ",
            "sign_name": "【积分乐园】",
            "dest_code": "1234",
            "sequence_id": 1234567890,
        },
        {
            "phone_number": "13700137000",  # no member has it
            "send_time": "2026-01-15 17:05:00",
            "content": "T",
            "sign_name": "【积分乐园】",
            "dest_code": "1234",
            "sequence_id": 1234567891,
        },
    ]
    answer = await post(served, "/hooks/sms/aliyun/reply", replies)
    assert (answer.status_code, answer.json()) == (200, {"code": 0, "msg": "成功"})
    preferences = await get_preferences(mongo, member_id)
    assert OptOut(Channel.SMS, EventKind.CAMPAIGN) in preferences.opt_outs
    assert preferences.allows(Channel.SMS, EventKind.EXPIRY_WARNING)  # transactional stays
    stored = await mongo["message_preferences"].find_one({"_id": member_id})
    assert stored is not None
    source = stored["opt_out_sources"]["sms:campaign"]
    assert (source["source"], source["provider"], source["reply_id"]) == (
        "sms_reply",
        "aliyun",
        "aliyun:1234567890",
    )
    assert source["at"] == datetime(2026, 1, 15, 9, 5, tzinfo=UTC)
    audit = await mongo["audit"].find({"action": "message.sms_stop"}).to_list()
    assert [(a["actor"], a["target"]) for a in audit] == [
        ("sms-reply:aliyun", f"member:{member_id}")
    ]
    recorded = {r["_id"]: r async for r in mongo["sms_replies"].find()}
    assert recorded["aliyun:1234567891"]["action"] == "no_member"
    assert recorded["aliyun:1234567891"]["member_id"] is None

    # the member turns marketing SMS back on; the same reply pushed again changes nothing
    await update_preferences(mongo, clock, member_id, opt_outs=[])
    assert (await post(served, "/hooks/sms/aliyun/reply", replies)).json()["code"] == 0
    assert (await get_preferences(mongo, member_id)).opt_outs == frozenset()
    assert await mongo["audit"].count_documents({"action": "message.sms_stop"}) == 1

    # a new STOP, by Tencent this time: a campaign's SMS is then suppressed by the opt-out
    tencent = {
        "extend": "",
        "mobile": "13800138000",
        "nationcode": "86",
        "sign": "积分乐园",
        "text": "退订",
        "reply_time": "2026-01-15 17:10:00",
    }
    assert (await post(served, "/hooks/sms/tencent/reply", tencent)).json() == {
        "result": 0,
        "errmsg": "OK",
    }
    await set_policy(
        mongo,
        MessagingPolicy(routes={EventKind.CAMPAIGN: [[Channel.SMS], [Channel.EMAIL]]}),
    )
    await announce(mongo, clock, [member_id], campaign_id="c1", title="双倍积分", body="本周双倍")
    await route_new(mongo, clock, LINKS)
    sms = (await records(mongo, member_id))["sms"]
    assert (sms["kind"], sms["status"], sms["reason"]) == ("campaign", "suppressed", "opt_out")


async def test_a_reply_that_is_not_a_stop_word_is_recorded_and_changes_nothing(
    mongo: Mongo, clock: FrozenClock, served: str
) -> None:
    member_id = await new_member(mongo, clock, phone="+8613800138000")
    reply = [
        {
            "phone_number": "13800138000",
            "send_time": "2026-01-15 17:05:00",
            "content": "谢谢",
            "sign_name": "【积分乐园】",
            "dest_code": "1234",
            "sequence_id": 7,
        }
    ]
    assert (await post(served, "/hooks/sms/aliyun/reply", reply)).json()["code"] == 0
    assert (await get_preferences(mongo, member_id)).opt_outs == frozenset()
    [recorded] = await mongo["sms_replies"].find().to_list()
    assert (recorded["member_id"], recorded["action"], recorded["text"]) == (
        member_id,
        "none",
        "谢谢",
    )
