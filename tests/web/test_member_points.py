"""The member page in Chromium for members of their own (not the shared demo member): what a member
owes after a refund, in both languages; one count of expiring points in the banner, the next
expiry and the expiring list, before and after a redemption."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from app.auth import hash_password
from app.clock import FrozenClock, SystemClock
from app.db import Mongo
from app.ledger import Inactivity, Rolling, earn, hold, reverse, spend
from app.members import create_member
from tests.web.conftest import Served, sign_in

PASSWORD = "points-page-password"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    yield context.new_page()
    context.close()


def _member(served: Served, phone: str, points: Callable[[Mongo, str], Awaitable[None]]) -> str:
    """A member of the demo program who signs in with `phone`, their points arranged by `points`
    through the ledger on the served database (its clock is the wall clock, like the server's)."""

    async def make(mongo: Mongo) -> str:
        member = await create_member(
            mongo,
            SystemClock(),
            name="Wu Fang",
            tier="member",
            phone=phone,
            password_hash=await hash_password(PASSWORD),
        )
        await points(mongo, member.id)
        return member.id

    return served.arrange(make)


def _sign_in(page: Page, served: Served, phone: str) -> None:
    sign_in(page, served, phone, PASSWORD)


async def _owe_150(mongo: Mongo, member_id: str) -> None:
    """200 earned and spent, then 150 of them refunded: 150 owed."""
    clock = SystemClock()
    first = await earn(
        mongo, clock, member_id=member_id, points=200, idempotency_key=f"{member_id}:1"
    )
    await spend(mongo, clock, member_id=member_id, points=200, idempotency_key=f"{member_id}:s")
    await reverse(mongo, clock, entry_id=first.id, points=150, idempotency_key=f"{member_id}:r")


def test_a_member_who_owes_points_sees_how_many_and_why_in_both_languages(
    page: Page, served: Served
) -> None:
    phone = "+8613900000101"
    member_id = _member(served, phone, _owe_150)
    _sign_in(page, served, phone)
    expect(page.locator("#debt")).to_be_visible()
    expect(page.locator("#debt")).to_have_text("150")
    expect(page.locator("#debt-label")).to_have_text("待抵扣欠分")
    expect(page.locator("#debt-note")).to_contain_text("先抵扣")
    expect(page.locator('#history [data-debt="150"]')).to_have_text("欠分 +150")
    served.screenshot(page, "m-7-debt")
    page.get_by_role("button", name="English").click()
    expect(page.locator("#debt-label")).to_have_text("Owed")
    expect(page.locator("#debt-note")).to_contain_text("your next points pay this first")
    expect(page.locator('#history [data-debt="150"]')).to_have_text("owed +150")

    async def earn_more(mongo: Mongo) -> None:
        await earn(
            mongo, SystemClock(), member_id=member_id, points=200, idempotency_key=f"{member_id}:2"
        )

    served.arrange(earn_more)  # the next points pay what is owed first
    page.reload()
    _sign_in(page, served, phone)
    expect(page.locator("#available")).to_have_text("50")
    expect(page.locator("#debt")).to_be_hidden()
    expect(page.locator("#debt-note")).to_be_hidden()
    expect(page.locator('#history [data-debt="-150"]')).to_be_visible()


def test_a_member_who_owes_nothing_sees_no_debt(page: Page, served: Served) -> None:
    async def earn_only(mongo: Mongo, member_id: str) -> None:
        await earn(
            mongo, SystemClock(), member_id=member_id, points=70, idempotency_key=f"{member_id}:1"
        )

    phone = "+8613900000102"
    _member(served, phone, earn_only)
    _sign_in(page, served, phone)
    expect(page.locator("#available")).to_have_text("70")
    expect(page.locator("#debt")).to_be_hidden()
    expect(page.locator("#debt-label")).to_be_hidden()
    expect(page.locator("#history [data-debt]")).to_have_count(0)


def _next_expiry(page: Page) -> tuple[str, str]:
    """(points, date) as the page's "next expiry" says them, e.g. ("355", "2026年2月12日")."""
    shown = re.fullmatch(r"(\d+) 积分将于 (.+) 到期", page.locator("#next-expiry").inner_text())
    assert shown is not None, page.locator("#next-expiry").inner_text()
    return shown[1], shown[2]


def _one_count(page: Page, points: str) -> None:
    """The banner, "next expiry" and the first expiring row say `points` at the same date."""
    expect(page.locator("#next-expiry")).to_contain_text(f"{points} 积分")
    _, date = _next_expiry(page)
    expect(page.locator("#expiring li").first).to_have_text(
        page.locator("#next-expiry").inner_text()
    )
    expect(page.locator("#live")).to_be_visible()
    expect(page.locator("#live")).to_contain_text(f"{points} 积分")
    expect(page.locator("#live")).to_contain_text(f"（{date}）")


def test_the_banner_the_next_expiry_and_the_list_say_one_number_before_and_after_a_redemption(
    page: Page, served: Served
) -> None:
    """Lots of every kind near the soonest instant: 300 + 30 dated and 25 under an inactivity policy
    at one instant; 40 pending and 60 held expiring sooner (left out of the count); 20 later."""
    start = datetime.now(UTC).replace(microsecond=0)

    async def lots(mongo: Mongo, member_id: str) -> None:
        at = FrozenClock(start)  # one instant for the three lots of the soonest expiry
        for key, points, policy in (
            ("a", 300, Rolling(days=10)),
            ("b", 30, Rolling(days=10)),
            ("i", 25, Inactivity(days=10)),
        ):
            await earn(
                mongo,
                at,
                member_id=member_id,
                points=points,
                policy=policy,
                idempotency_key=f"{member_id}:{key}",
            )
        await earn(
            mongo,
            at,
            member_id=member_id,
            points=40,
            policy=Rolling(days=5),
            available_at=start + timedelta(days=3),
            idempotency_key=f"{member_id}:p",
        )
        await earn(
            mongo,
            at,
            member_id=member_id,
            points=60,
            policy=Rolling(days=8),
            idempotency_key=f"{member_id}:h",
        )
        await earn(
            mongo,
            at,
            member_id=member_id,
            points=20,
            policy=Rolling(days=20),
            idempotency_key=f"{member_id}:l",
        )
        await hold(
            mongo,
            at,
            member_id=member_id,
            points=60,
            ttl=timedelta(hours=2),
            idempotency_key=f"{member_id}:checkout",
        )  # the 8-day lot, soonest spendable

    phone = "+8613900000103"
    _member(served, phone, lots)
    _sign_in(page, served, phone)
    expect(page.locator("#next-expiry")).to_contain_text("355 积分")
    expect(page.locator("#live")).to_be_hidden()  # nothing warned yet
    served.jifen("warn")
    _one_count(page, "355")
    served.screenshot(page, "m-8-one-expiry-count")

    page.locator("#catalog li").first.get_by_role("button").click()  # 300 points, soonest first
    expect(page.locator("#redeem-result")).to_contain_text("兑换成功")
    # The redemption renewed the inactivity points (a later instant now): 30 are left at the first.
    _one_count(page, "30")
