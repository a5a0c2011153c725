"""The operator console at /console in a real headless Chromium, against a served app."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from app.clock import SystemClock
from app.db import Mongo
from app.importer import run_due_import
from app.ledger import Rolling, earn, reverse, spend
from app.messaging import Links, Transports, deliver_due, route_new
from app.notifications import issue_expiry_warnings
from graphql_schema.ids import from_global_id, to_global_id
from tests.web.conftest import Served

SCOPES = (
    "program:read",
    "program:write",
    "members:read",
    "members:write",
    "points:write",
    "audit:read",
    "reports:read",
    "catalog:read",
    "catalog:write",
    "draws:write",
    "import:write",
    "messages:read",
    "messages:write",
)
CURRENT = "{ programVersion { version config } }"
AUDIT = '{ auditLog(first: 5, filter: {target: "member:m_demo"}) { edges { node { action } } } }'
DEMO = to_global_id("Member", "m_demo")
BALANCE = (
    "query($id: ID!) { member(id: $id) { balance { available }"
    " history(first: 5) { edges { node { kind points description } } } } }"
)


def _admin(served: Served, *scopes: str) -> str:
    return served.admin_token("ops-console", *scopes)


@pytest.fixture
def console(browser: Browser, served: Served) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.goto(f"{served.base}/console/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.get_by_label("Admin token").fill(_admin(served, *SCOPES))
    page.locator("#signin [type=submit]").click()
    expect(page.locator("body")).to_have_attribute("data-page", "dashboard")
    yield page
    context.close()


def test_a_program_change_with_an_invalid_field_shows_the_error_next_to_it_and_applies_nothing(
    console: Page, served: Served
) -> None:
    token = _admin(served, *SCOPES)
    before = served.gql(CURRENT, token)["programVersion"]
    console.get_by_role("link", name="Program").click()
    field = console.get_by_label("return_window_days", exact=True)
    field.fill("-5")
    console.get_by_role("button", name="Review changes").click()
    error = console.locator(f"#{field.get_attribute('aria-describedby')}")
    expect(error).not_to_be_empty()
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(console.locator("#program-errors")).to_contain_text("1 errors")
    served.screenshot(console, "console-1-program-error")
    assert served.gql(CURRENT, token)["programVersion"] == before, "a refused change applied"

    try:
        field.fill("3")
        console.get_by_role("button", name="Review changes").click()
        changes = console.locator("#program-changes table")
        expect(changes).to_contain_text("return_window_days")
        expect(error).to_be_empty()
        console.locator("#program-apply").dblclick()
        expected = before["version"] + 1  # type: ignore[index]
        expect(console.locator("#program-changes")).to_contain_text(
            f"Applied as version {expected}"
        )
        after = served.gql(CURRENT, token)["programVersion"]
        assert after["version"] == expected  # type: ignore[index]  # a double click applies once
        assert after["config"]["return_window_days"] == 3  # type: ignore[index]
        served.screenshot(console, "console-2-program-applied")
    finally:  # the other browser tests expect the demo program as seeded
        query = (
            "mutation($i: UpdateProgramInput!) { updateProgram(input: $i) { userErrors { code } } }"
        )
        restore = {"config": before["config"], "idempotencyKey": "console-test-restore"}  # type: ignore[index]
        served.gql(query, token, i=restore)


def test_an_adjustment_is_confirmed_with_its_effect_then_applied_once(
    console: Page, served: Served
) -> None:
    token = _admin(served, *SCOPES)
    before = served.gql(BALANCE, token, id=DEMO)["member"]["balance"]["available"]  # type: ignore[index]
    console.get_by_role("link", name="Members").click()
    console.get_by_label("Phone, member number or name").fill("JF000000001")
    console.get_by_role("button", name="Find").click()
    console.get_by_role("link", name="JF000000001").click()
    expect(console.locator("#member-available")).to_have_text(str(before))

    console.locator("#adjust-points").fill("50")
    console.get_by_role("button", name="Review changes").click()
    expect(console.locator("#adjust-error")).to_have_text("A reason is required")
    console.locator("#adjust-reason").fill("goodwill: late delivery")
    console.get_by_role("button", name="Review changes").click()
    expect(console.locator("#adjust-confirm")).to_contain_text("+50 points")
    served.screenshot(console, "console-3-adjust-confirm")
    console.locator("#adjust-apply").dblclick()
    expect(console.locator("#member-available")).to_have_text(str(before + 50))
    member = served.gql(BALANCE, token, id=DEMO)["member"]
    assert member["balance"]["available"] == before + 50  # type: ignore[index]
    newest = member["history"]["edges"][0]["node"]  # type: ignore[index]
    assert (newest["kind"], newest["points"]) == ("ADJUST", 50)
    served.screenshot(console, "console-4-member")

    console.get_by_role("link", name="Audit log").click()
    console.locator("#audit-value").fill("member:m_demo")
    console.get_by_role("button", name="Find").click()
    row = console.locator("#audit-rows tr", has_text="points.adjust").first
    expect(row).to_contain_text("admin:ops-console")
    expect(row).to_contain_text("member:m_demo")
    served.screenshot(console, "console-5-audit")


def test_a_token_without_the_scope_is_told_which_one(browser: Browser, served: Served) -> None:
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(f"{served.base}/console/#/program")
    page.get_by_label("Admin token").fill(_admin(served, "members:read"))
    page.locator("#signin [type=submit]").click()
    expect(page.locator("#page-error")).to_contain_text("lacks the scope")
    page.goto(f"{served.base}/console/")
    context.close()


def test_the_one_time_link_the_cli_prints_signs_in_once(browser: Browser, served: Served) -> None:
    scopes = [arg for scope in SCOPES for arg in ("--scope", scope)]
    link = served.jifen(
        "token", "admin", "ops-link", *scopes, "--link", "--base-url", served.base
    ).strip()
    assert link.startswith(f"{served.base}/console/#link=")
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(link)
    expect(page.locator("body")).to_have_attribute("data-page", "dashboard")
    expect(page.locator("#tile-liability")).not_to_be_empty()
    assert "link=" not in page.url  # the used code is gone from the address bar
    context.close()

    again = browser.new_context(locale="en-US")
    page = again.new_page()
    page.goto(link)
    expect(page.locator("#signin-error")).to_contain_text("already used")
    expect(page.locator("#signin")).to_be_visible()
    again.close()


def test_suspending_a_member_is_confirmed_then_shown_and_audited(
    console: Page, served: Served
) -> None:
    console.goto(f"{served.base}/console/#/members/{DEMO}")
    expect(console.locator("#member-status")).to_have_text("Active")
    console.locator("#status-suspend").click()
    expect(console.locator("#status-error")).to_have_text("A reason is required")
    console.locator("#status-reason").fill("suspicious redemptions")
    console.locator("#status-suspend").click()
    expect(console.locator("#status-confirm")).to_contain_text("no sign-in")
    served.screenshot(console, "console-6-suspend-confirm")
    console.locator("#status-apply").click()
    expect(console.locator("#member-status")).to_have_text("Suspended")
    console.locator("#status-reason").fill("cleared")
    console.locator("#status-reactivate").click()
    console.locator("#status-apply").click()
    expect(console.locator("#member-status")).to_have_text("Active")
    token = _admin(served, "audit:read")
    log = served.gql(AUDIT, token)["auditLog"]["edges"]  # type: ignore[index]
    assert [e["node"]["action"] for e in log][:2] == ["member.reactivate", "member.suspend"]


def test_the_dashboard_counts_todays_warnings_live(console: Page, served: Served) -> None:
    tile = console.locator("#tile-warnings")
    expect(tile).not_to_have_text("…")  # the subscription's first count arrived
    before = int(tile.inner_text().replace(",", ""))
    expect(console.locator("#tile-liability")).not_to_be_empty()
    expect(console.locator("figure svg polyline")).to_have_count(3)
    token = _admin(served, "members:read")
    query = "query($id: ID!) { member(id: $id) { balance { nextExpiry { expiresAt } } } }"
    soonest = served.gql(query, token, id=DEMO)["member"]["balance"]["nextExpiry"]  # type: ignore[index]
    as_of = datetime.fromisoformat(soonest["expiresAt"]) - timedelta(hours=12)  # the 1-day lead
    served.jifen("warn", "--as-of", max(as_of, datetime.now(UTC)).isoformat())
    expect(tile).not_to_have_text(str(before), timeout=15_000)
    assert int(tile.inner_text().replace(",", "")) > before
    served.screenshot(console, "console-7-dashboard")


def test_a_report_shows_its_rows_and_offers_the_apis_csv(console: Page, served: Served) -> None:
    console.get_by_role("link", name="Reports").click()
    expect(console.locator("#report-body table tbody tr").first).to_be_visible()
    link = console.locator("#report-csv")
    expect(link).to_have_attribute("download", "pointsFlow.csv")
    with console.expect_download() as downloaded:  # as an operator saves it
        link.click()
    csv = Path(downloaded.value.path()).read_text()
    assert csv.startswith("period,start,end,issued,redeemed,expired")
    rows = console.locator("#report-body table tbody tr").count()
    assert rows == len(csv.strip().splitlines()) - 1
    served.screenshot(console, "console-8-report")


def test_stock_moves_from_the_catalog_page(console: Page, served: Served) -> None:
    console.get_by_role("link", name="Catalog & draws").click()
    reward = console.locator("#stock-reward")
    expect(reward).to_be_visible()
    shown = console.locator(f'[data-stock="{reward.input_value()}"]')
    before = int(shown.inner_text())
    console.locator("#stock-delta").fill("5")
    console.locator("#stock-reason").fill("delivery")
    console.get_by_role("button", name="Apply").click()
    expect(shown).to_have_text(str(before + 5))
    served.screenshot(console, "console-9-catalog")


def _new_member(served: Served, name: str, key: str) -> str:
    """A member created over the API by an operator; their global id."""
    made = served.gql(
        "mutation($i: CreateMemberInput!) { createMember(input: $i) { member { id } } }",
        _admin(served, *SCOPES),
        i={"name": name, "idempotencyKey": key},
    )["createMember"]["member"]["id"]  # type: ignore[index]
    return str(made)


def test_clearing_a_members_points_shows_the_amount_before_it_applies(
    console: Page, served: Served
) -> None:
    token = _admin(served, *SCOPES)
    made = _new_member(served, "Zhao Qing", "console-clear")
    served.gql(
        "mutation($i: AdjustPointsInput!) { adjustPoints(input: $i) { entry { points } } }",
        token,
        i={"memberId": made, "points": 300, "reason": "welcome", "idempotencyKey": "cc1"},
    )
    console.goto(f"{served.base}/console/#/members/{made}")
    expect(console.locator("#member-available")).to_have_text("300")
    console.locator("#correction-reason").fill("fraudulent account")
    console.locator("#clear-review").click()
    expect(console.locator("#correction-confirm")).to_contain_text("loses 300 points")
    served.screenshot(console, "console-10-clear-confirm")
    console.locator("#correction-apply").click()
    expect(console.locator("#member-available")).to_have_text("0")


def test_a_coupon_batch_is_generated_from_the_catalog_page(console: Page, served: Served) -> None:
    token = _admin(served, *SCOPES)
    served.gql(
        "mutation($i: CreateRewardInput!) { createReward(input: $i) { reward { id } } }",
        token,
        i={
            "name": "Tea voucher",
            "pointsPrice": 99_999,
            "kind": "COUPON",
            "stock": 0,
            "idempotencyKey": "console-tea",
        },
    )
    console.get_by_role("link", name="Catalog & draws").click()
    console.locator("#coupon-reward").select_option(label="Tea voucher")
    reward = console.locator("#coupon-reward").input_value()
    console.locator("#coupon-count").fill("3")
    console.get_by_role("button", name="Add codes").click()
    expect(console.locator("#coupon-result")).to_have_text("3 codes added")
    expect(console.locator(f'[data-stock="{reward}"]')).to_have_text("3")


def _run_uploaded_imports(served: Served) -> None:
    """The worker's pass over uploaded imports (only that job, not the whole worker, which would
    also expire and mature the shared demo's points under the other tests)."""

    async def run(mongo: Mongo) -> None:
        while await run_due_import(mongo, SystemClock(), owner="console-test") is not None:
            pass

    served.arrange(run)


def test_an_import_is_uploaded_followed_to_its_summary_and_refused_rows(
    console: Page, served: Served
) -> None:
    members = (
        "legacy_id,phone,name,email,birthday,tier,joined_at\n"
        + "".join(f"WEB{n:03d},1366600{n:04d},Web {n},,,,\n" for n in range(40))
        + "WEB999,12345,Bad Phone,,,,\n"
    )
    balances = "legacy_id,points,earned_at,expires_at\n" + "".join(
        f"WEB{n:03d},{10 * (n + 1)},2026-06-01,\n" for n in range(40)
    )
    console.get_by_role("link", name="Import").click()
    console.locator("#import-members").set_input_files(
        {"name": "members.csv", "mimeType": "text/csv", "buffer": members.encode()}
    )
    console.locator("#import-balances").set_input_files(
        {"name": "balances.csv", "mimeType": "text/csv", "buffer": balances.encode()}
    )
    console.get_by_role("button", name="Upload and import").click()
    expect(console.locator("#import-status")).to_have_attribute("data-status", "QUEUED")
    _run_uploaded_imports(served)
    expect(console.locator("#import-status")).to_have_attribute("data-status", "DONE")
    expect(console.locator("#import-summary")).to_contain_text(
        "40 members imported, 0 unchanged, 0 changed and not applied; 40 balances, 8200 points; "
        "1 rows refused"
    )
    expect(console.locator("#import-job table tbody tr")).to_have_count(1)
    expect(console.locator("#import-job table tbody tr")).to_contain_text("phone")
    expect(console.locator("#import-jobs table tbody tr").first).to_contain_text("Done")
    served.screenshot(console, "console-11-import")
    token = _admin(served, *SCOPES)
    found = served.gql(
        '{ members(search: "13666000039") { edges { node { balance { available } } } } }', token
    )
    assert found["members"]["edges"][0]["node"]["balance"]["available"] == 400  # type: ignore[index]


def test_a_file_no_import_could_read_is_refused_on_the_page(console: Page) -> None:
    console.get_by_role("link", name="Import").click()
    members = "legacy_id,phone,name,email,birthday,tier,joined_at\nG1,,王芳,,,,\n".encode("gbk")
    console.locator("#import-members").set_input_files(
        {"name": "members.csv", "mimeType": "text/csv", "buffer": members}
    )
    console.get_by_role("button", name="Upload and import").click()
    expect(console.locator("#import-error")).to_contain_text("members: not UTF-8 text")
    expect(console.locator("#import-status")).to_have_count(0)


def test_the_member_view_shows_what_a_member_owes(console: Page, served: Served) -> None:
    made = _new_member(served, "Qian Li", "console-debt")
    member_id = from_global_id(made, "Member")[1]

    async def owe(mongo: Mongo) -> None:  # 90 earned and spent, then refunded: 90 owed
        clock = SystemClock()
        earned = await earn(mongo, clock, member_id=member_id, points=90, idempotency_key="cd1")
        await spend(mongo, clock, member_id=member_id, points=90, idempotency_key="cd2")
        await reverse(mongo, clock, entry_id=earned.id, idempotency_key="cd3")

    served.arrange(owe)
    console.goto(f"{served.base}/console/#/members/{made}")
    expect(console.locator("#member-available")).to_have_text("0")
    expect(console.locator("#member-debt")).to_have_text("90")


def test_the_liability_report_splits_available_pending_and_held(
    console: Page, served: Served
) -> None:
    console.get_by_role("link", name="Reports").click()
    expect(console.locator("#report-body table tbody tr").first).to_be_visible()
    console.locator("#report-name").select_option("liabilitySeries")
    console.get_by_role("button", name="Show").click()
    expect(console.locator("#report-csv")).to_have_attribute("download", "liabilitySeries.csv")
    header = console.locator("#report-body table thead th")
    expect(header).to_contain_text(["date", "points", "available", "pending", "held", "debt"])
    last = console.locator("#report-body table tbody tr").last.locator("td")
    points, available, pending, held = (int(last.nth(n).inner_text()) for n in range(1, 5))
    assert points == available + pending + held > 0
    served.screenshot(console, "console-12-liability-split")


def test_the_header_shows_the_sandbox_time_while_it_is_moved(console: Page, served: Served) -> None:
    expect(console.locator("#sandbox-clock")).to_be_hidden()  # the real time: nothing to say
    served.jifen("clock", "advance", "30d")
    try:
        console.reload()
        badge = console.locator("#sandbox-clock")
        expect(badge).to_contain_text("Sandbox time")
        shown = datetime.fromisoformat(badge.get_attribute("data-now") or "")
        assert abs(shown - (SystemClock().now() + timedelta(days=30))) < timedelta(minutes=1)
    finally:
        served.jifen("clock", "reset", "--force")


def test_a_members_messages_show_what_was_sent_and_a_dead_letter_is_retried(
    console: Page, served: Served
) -> None:
    made = _new_member(served, "Sun Li", "console-messages")
    member_id = from_global_id(made, "Member")[1]

    async def warned(mongo: Mongo) -> None:
        """A warning routed and sent to the dev inbox (e-mail: no quiet hours on the real clock),
        then the e-mail dead-lettered, as a provider's refusal would."""
        clock = SystemClock()
        await mongo["members"].update_one(
            {"_id": member_id}, {"$set": {"email": "sun@example.com"}}
        )
        await earn(
            mongo,
            clock,
            member_id=member_id,
            points=80,
            idempotency_key="cm1",
            policy=Rolling(days=3),
        )
        await issue_expiry_warnings(mongo, clock)
        await route_new(mongo, clock, Links(b"k" * 32, served.base))
        await deliver_due(mongo, clock, Transports())
        await mongo["messages"].update_one(
            {"member_id": member_id, "channel": "email"}, {"$set": {"status": "failed"}}
        )

    served.arrange(warned)
    console.goto(f"{served.base}/console/#/members/{made}")
    console.locator("#member").get_by_role("link", name="Messages").click()
    expect(console.locator("body")).to_have_attribute("data-page", "messages")
    rows = console.locator("#messages-rows")
    expect(rows).to_contain_text("suppressed (consent)")  # push: the member never agreed
    expect(rows).to_contain_text("Sun Li")  # the e-mail's text, as rendered
    rows.get_by_role("button", name="Retry").click()
    expect(rows).to_contain_text("Queued again")
    expect(console.locator("#messages-totals")).to_contain_text("EXPIRY_WARNING")
