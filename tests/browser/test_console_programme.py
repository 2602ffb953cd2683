"""The back office's membership pages in a real browser: the programme edited and saved (and
the API's 400 beside the field it names), a member's tier, progress and points with an
operator's adjustment and the history paged, the tier review run by hand."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import key_of, screenshot
from tests.browser.test_membership_pages import TIERS, adjust, order, silver_member
from tests.stack import Stack

Auth = dict[str, dict[str, str]]

PROGRAMME: dict[str, Any] = {
    "points": {
        "expiry": {"mode": "days", "days": 365},
        "pending_days": 0,
        "transferable": False,
        "multipliers": [
            {"name": "birthday month", "multiplier": 2, "when": {"birthday_month": True}},
            {"name": "member day", "multiplier": 2, "when": {"day_of_month": 18}},
        ],
    },
    "tiers": TIERS,
}


@pytest.fixture
def programme(api: httpx.Client, stack_auth: Auth) -> Iterator[None]:
    """A known programme for the test; the defaults again afterwards."""
    put = api.put("/v1/programme", json=PROGRAMME, headers=stack_auth["admin"])
    assert put.status_code == 200, put.text
    yield
    assert api.put("/v1/programme", json={}, headers=stack_auth["admin"]).status_code == 200


def test_an_operator_edits_every_part_of_the_programme_and_sees_the_api_error_beside_its_field(
    console: Callable[..., Page],
    expect_refusal: Callable[[int, str], None],
    api: httpx.Client,
    stack_auth: Auth,
    programme: None,
) -> None:
    expect_refusal(400, "/v1/programme")
    page = console(key_of(stack_auth["admin"]))
    page.click("#nav a[data-nav=programme]")
    form = page.locator("#programme-form")
    expect(form.locator("#p-expiry-mode")).to_have_value("days")
    expect(form.locator("#p-expiry-days")).to_have_value("365")
    rules = form.locator("fieldset.multiplier")
    expect(rules).to_have_count(2)
    expect(rules.nth(1).locator("[name=m_day_of_month]")).to_have_value("18")
    expect(form.locator("[name=gold_yearly_spend]")).to_have_value("5000")

    # A multiplier outside 1..10: the API's 400 beside that rule's field.
    rules.nth(1).locator("[name=m_multiplier]").fill("11")
    page.click("#programme-form button[type=submit]")
    error = form.locator('[data-field="points.multipliers[1].multiplier"] .field-error')
    expect(error).to_contain_text("points.multipliers[1].multiplier")
    screenshot(page, "console-programme-error")
    rules.nth(1).locator("[name=m_multiplier]").fill("3")

    # Thresholds that do not rise with the tier: beside gold's yearly spend.
    form.locator("[name=gold_yearly_spend]").fill("2000")
    page.click("#programme-form button[type=submit]")
    expect(form.locator('[data-field="tiers.gold.yearly_spend"] .field-error')).to_contain_text(
        "must be above tiers.silver.yearly_spend"
    )
    form.locator("[name=gold_yearly_spend]").fill("6000")

    # A reward's points (the rewards' own test, test_console_rewards, covers the rest).
    form.locator("#r-welcome-points").fill("100")

    # Every other part: expiry, pending days, transfers, a rule removed and one added.
    form.locator("#p-expiry-mode").select_option("end_of_next_year")
    expect(form.locator("#p-expiry-days")).to_be_hidden()
    form.locator("#p-pending-days").fill("7")
    form.locator("#p-transferable").check()
    rules.nth(0).locator(".multiplier-remove").click()
    expect(rules).to_have_count(1)
    page.click("#multiplier-add")
    added = rules.nth(1)
    expect(added.locator("legend")).to_have_text("#2")
    added.locator("[name=m_name]").fill("new season")
    added.locator("[name=m_multiplier]").fill("3")
    added.locator("[name=m_categories]").fill("outerwear, coats")
    added.locator("[name=m_store]").check()
    added.locator("[name=m_starts_at]").fill("2026-09-01T00:00")
    added.locator("[name=m_ends_at]").fill("2026-10-01T00:00")
    form.locator("[name=diamond_single_order]").fill("8000")
    form.locator("#p-downgrade").select_option("recalculate")
    page.click("#programme-form button[type=submit]")
    expect(page.locator("#flash")).to_have_text("规则已保存")
    screenshot(page, "console-programme")

    saved = api.get("/v1/programme", headers=stack_auth["admin"]).json()
    points = saved["points"]
    assert points["expiry"] == {"mode": "end_of_next_year"}
    assert (points["pending_days"], points["transferable"]) == (7, True)
    first, second = points["multipliers"]
    assert first == {"name": "member day", "multiplier": 3, "when": {"day_of_month": 18}}
    assert second["name"] == "new season" and second["multiplier"] == 3
    when = second["when"]
    assert (when["categories"], when["channels"]) == (["outerwear", "coats"], ["store"])
    assert when["starts_at"] < when["ends_at"]
    tiers = saved["tiers"]
    assert tiers["gold"] == {"single_order": None, "yearly_spend": 600000}
    assert tiers["diamond"] == {"single_order": 800000, "yearly_spend": 1000000}
    assert tiers["downgrade"] == "recalculate"
    assert saved["rewards"]["welcome"] == {"campaign_id": None, "points": 100}

    # What was saved is what the page shows again.
    page.reload()
    expect(form.locator("fieldset.multiplier")).to_have_count(2)
    expect(rules.nth(1).locator("[name=m_categories]")).to_have_value("outerwear, coats")
    expect(form.locator("#p-transferable")).to_be_checked()


def test_an_operator_reads_a_members_tier_and_points_and_adjusts_them(
    console: Callable[..., Page],
    expect_refusal: Callable[[int, str], None],
    api: httpx.Client,
    stack_auth: Auth,
    programme: None,
) -> None:
    expect_refusal(409, "/points/adjustments")  # beyond the balance
    member_id, _ = silver_member(api, stack_auth)
    order(api, stack_auth, member_id, 1200)
    for n in range(21):  # more than one page of history (20)
        adjust(api, stack_auth, member_id, 1, f"small credit {n}")

    page = console(key_of(stack_auth["admin"]))
    page.goto(f"/console#/members/{member_id}")
    profile = page.locator("#member-profile")
    expect(profile).to_contain_text("银卡")
    expect(profile).to_contain_text("再消费 ¥3800 升级金卡")
    expect(profile).to_contain_text("¥1200")
    expect(page.locator("#member-progress")).to_be_visible()
    expect(page.locator("#member-points [data-stat=balance] strong")).to_have_text("1221")
    history = page.locator("#points-history tr")
    expect(history).to_have_count(20)
    page.click("#points-more")
    expect(history).to_have_count(22)
    expect(history.last).to_contain_text("消费获得")
    expect(page.locator("#points-more")).to_be_hidden()

    adjust_form = page.locator("#adjust-form")
    adjust_form.locator("#adjust-points").fill("+500")
    adjust_form.locator("#adjust-reason").fill("生日补偿")
    adjust_form.get_by_role("button").click()
    expect(page.locator("#flash")).to_have_text("已调整 +500 积分，余额 1721")
    expect(page.locator("#member-points [data-stat=balance] strong")).to_have_text("1721")
    expect(history.first).to_contain_text("客服调整")
    expect(history.first).to_contain_text("+500")
    expect(history.first).to_contain_text("生日补偿")
    screenshot(page, "console-member-points")

    adjust_form.locator("#adjust-points").fill("-5000")
    adjust_form.locator("#adjust-reason").fill("too much")
    adjust_form.get_by_role("button").click()
    expect(adjust_form.locator("[data-error-for=body]")).to_contain_text("fewer than 5000")
    points = api.get(f"/v1/members/{member_id}/points", headers=stack_auth["admin"]).json()
    assert points["balance"] == 1721


def test_an_operator_runs_the_tier_review_and_a_member_past_its_anniversary_moves_down(
    console: Callable[..., Page], api: httpx.Client, stack: Stack, stack_auth: Auth, programme: None
) -> None:
    member_id = f"m-{uuid.uuid4().hex[:10]}"
    put = api.put(f"/v1/members/{member_id}", json={"tier": "gold"}, headers=stack_auth["admin"])
    assert put.status_code == 200, put.text
    # Its tier a year and more old, nothing spent: due for review, below gold's yearly spend.
    subprocess.run(
        ["psql", stack.database_url, "-q", "-v", "ON_ERROR_STOP=1", "-v", f"member={member_id}"],
        input="UPDATE members SET tier_since = now() - interval '400 days' "
        "WHERE member_id = :'member';",
        text=True,
        check=True,
    )
    page = console(key_of(stack_auth["admin"]))
    page.click("#nav a[data-nav=programme]")
    with page.expect_response("**/v1/tiers/review") as answer:
        page.click("#review-run")
    report = answer.value.json()
    result = page.locator("#review-result")
    expect(result).to_have_text(
        f"已复核 {report['reviewed']} 人：保级 {report['kept']} 人，降级 {report['downgraded']} 人"
    )
    assert re.fullmatch(r"已复核 \d+ 人：保级 \d+ 人，降级 \d+ 人", result.inner_text())
    # Moved down one step (by this run, or by the scheduler's a moment before).
    member = api.get(f"/v1/members/{member_id}", headers=stack_auth["admin"]).json()
    assert member["tier"] == "silver"
    screenshot(page, "console-tier-review", full_page=False)


def test_a_clerk_sees_none_of_the_membership_admin_pages(
    console: Callable[..., Page], stack_auth: Auth
) -> None:
    page = console(key_of(stack_auth["clerk"]))
    expect(page.locator("#nav a[data-nav=programme]")).to_be_hidden()
    expect(page.locator("#nav a[data-nav=members]")).to_be_hidden()
    for hash_ in ("#/programme", "#/members/m-1"):
        page.goto(f"/console{hash_}")
        expect(page.locator("#view-store")).to_be_visible()
        expect(page.locator("#view-programme")).to_be_hidden()
        expect(page.locator("#view-members")).to_be_hidden()
