"""The member page at /m in a real headless Chromium on a phone-sized screen, against a served app."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Locator, Page, expect

from app.seed import DEMO_PASSWORD, DEMO_PHONE
from tests.web.conftest import Served

BALANCE = "{ me { balance { available } redemptions(first: 50) { edges { node { id } } } } }"


def _state(served: Served) -> tuple[int, int]:
    """The demo member's available balance and number of redemptions, read through the API."""
    me = served.gql(BALANCE, served.member_token())["me"]
    return me["balance"]["available"], len(me["redemptions"]["edges"])  # type: ignore[index]


def _next_expiry(served: Served) -> tuple[int, datetime]:
    """The points and instant of the demo member's soonest expiry, read through the API."""
    query = "{ me { balance { nextExpiry { points expiresAt } } } }"
    soonest = served.gql(query, served.member_token())["me"]["balance"]["nextExpiry"]  # type: ignore[index]
    return soonest["points"], datetime.fromisoformat(soonest["expiresAt"])


def _signed_in(page: Page, served: Served) -> Page:
    if page.url.startswith(served.base) and page.locator("#home").is_visible():
        return page
    page.goto(f"{served.base}/m/?page=3")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    served.screenshot(page, "m-1-sign-in")
    page.get_by_label("手机号").fill(DEMO_PHONE)
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.locator("#home")).to_be_visible()
    expect(page.locator("#catalog li").first).to_be_visible()
    return page


def _cheapest_redeem(page: Page) -> tuple[int, Locator]:
    row = page.locator("#catalog li").first
    price = int(re.sub(r"\D", "", row.locator("strong").inner_text()))
    return price, row.get_by_role("button")


def test_sign_in_shows_the_balance(phone: Page, served: Served) -> None:
    page = _signed_in(phone, served)
    available, _ = _state(served)
    expect(page.locator("#available")).to_have_text(str(available))
    expect(page.locator("#expiring li").first).to_contain_text(str(_next_expiry(served)[0]))
    served.screenshot(page, "m-2-home")


def test_redeeming_changes_the_balance(phone: Page, served: Served) -> None:
    page = _signed_in(phone, served)
    before, redemptions = _state(served)
    price, button = _cheapest_redeem(page)
    button.click()
    expect(page.locator("#available")).to_have_text(str(before - price))
    assert _state(served) == (before - price, redemptions + 1)
    query = "{ me { redemptions(first: 1) { edges { node { couponCode reward { kind } } } } } }"
    latest = served.gql(query, served.member_token())["me"]["redemptions"]["edges"][0]["node"]  # type: ignore[index]
    assert latest["reward"]["kind"] == "COUPON"  # the demo's cheapest reward
    expect(page.locator("#redeem-result")).to_contain_text(latest["couponCode"])  # for the till
    served.screenshot(page, "m-3-redeemed")


def test_a_double_click_redeems_once(phone: Page, served: Served) -> None:
    page = _signed_in(phone, served)
    before, redemptions = _state(served)
    price, button = _cheapest_redeem(page)
    button.dblclick()
    expect(page.locator("#available")).to_have_text(str(before - price))
    expect(button).to_be_enabled()
    assert _state(served) == (before - price, redemptions + 1)


def test_a_warning_arrives_live(phone: Page, served: Served) -> None:
    page = _signed_in(phone, served)
    banner = page.locator("#live")
    count = int(banner.get_attribute("data-count") or 0)
    soonest = _next_expiry(served)  # redemptions may have spent the demo's soonest lot
    as_of = max(soonest[1] - timedelta(days=10), datetime.now(UTC))  # inside the 30-day lead
    served.jifen("warn", "--as-of", as_of.isoformat())
    expect(banner).to_have_attribute("data-count", str(count + 1), timeout=15_000)
    expect(banner).to_contain_text(str(soonest[0]))
    served.screenshot(page, "m-4-live-warning")


def test_history_scrolls_to_the_second_page(phone: Page, served: Served) -> None:
    page = _signed_in(phone, served)
    rows = page.locator("#history > li")
    expect(rows.first).to_be_visible()
    first_page = rows.count()
    assert first_page == 3  # ?page=3, the end of the list below the fold
    page.locator("#history-end").scroll_into_view_if_needed()
    expect(rows).not_to_have_count(3)
    assert rows.count() > first_page
    page.locator("#history details").first.locator("summary").click()
    served.screenshot(page, "m-5-history")


def test_english_labels(phone: Page, served: Served) -> None:
    page = _signed_in(phone, served)
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Balance")).to_be_visible()
    served.screenshot(page, "m-6-english")
    page.get_by_role("button", name="中文").click()
    expect(page.get_by_role("heading", name="积分余额")).to_be_visible()


def test_check_in_shows_the_streak(phone: Page, served: Served) -> None:
    page = _signed_in(phone, served)
    page.get_by_role("button", name="签到").click()
    expect(page.locator("#checkin-result")).to_contain_text(re.compile(r"连续 \d+ 天"))
    expect(page.locator("#available")).to_have_text(str(_state(served)[0]))
    page.get_by_role("button", name="签到").click()  # the same day again: nothing more earned
    expect(page.locator("#checkin-result")).to_contain_text("今天已签到")
