"""The reports in the back office, in a real browser: the conversion funnel per campaign
(claimed → reserved → committed), points outstanding and expiring with the last 30 days'
moves, the referral board, clerks' grants and their redemption, members per tier; each
figure on the page is the API's, and the charts are drawn from them. A clerk sees none of the
admin views of issue 14."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import key_of, screenshot
from tests.browser.test_console import create
from tests.browser.test_membership_pages import SILVER, order
from tests.stack import Stack

Auth = dict[str, dict[str, str]]


@pytest.fixture
def short_lived_points(api: httpx.Client, stack_auth: Auth) -> Iterator[None]:
    """Points that expire 20 days after they count (within the report's 30 and 90 days)."""
    body = {"points": {"expiry": {"mode": "days", "days": 20}}}
    assert api.put("/v1/programme", json=body, headers=stack_auth["admin"]).status_code == 200
    yield
    assert api.put("/v1/programme", json={}, headers=stack_auth["admin"]).status_code == 200


def silver(api: httpx.Client, auth: Auth, **body: Any) -> str:
    assert api.put("/v1/tiers/silver", json=SILVER, headers=auth["admin"]).status_code == 200
    member_id = f"m-{uuid.uuid4().hex[:10]}"
    put = api.put(f"/v1/members/{member_id}", json={"tier": "silver", **body},
                  headers=auth["admin"])  # fmt: skip
    assert put.status_code == 200, put.text
    return member_id


def reserve(api: httpx.Client, auth: Auth, member_id: str, code: str) -> str:
    """An order of ¥300 with the coupon `code`, reserved at the checkout."""
    order_id = f"o-{uuid.uuid4().hex[:10]}"
    body = {
        "member_id": member_id,
        "order_id": order_id,
        "channel": "store",
        "lines": [{"sku": "SKU-9", "category": "shoes", "unit_price": 30000, "qty": 1}],
        "coupon_codes": [code],
    }
    reserved = api.post("/v1/checkout/redemptions", json=body, headers=auth["checkout"])
    assert reserved.status_code == 201, reserved.text
    return order_id


def numbers(locator: Any) -> list[str]:
    return [text.strip() for text in locator.all_inner_texts()]


def test_the_reports_show_the_apis_figures_as_tables_and_charts(
    console: Callable[..., Page],
    api: httpx.Client,
    stack: Stack,
    stack_auth: Auth,
    short_lived_points: None,
) -> None:
    admin, checkout = stack_auth["admin"], stack_auth["checkout"]
    clerk_key = stack.cli("keys", "create", "--role", "clerk", "--name", "12号店 李娜")
    clerk = {"Authorization": f"Bearer {clerk_key}"}
    campaign = create(api, stack_auth, name="导购券 满200减20", amount_off=2000, min_spend=20000)
    shoppers = [silver(api, stack_auth) for _ in range(3)]
    granted = api.post(
        f"/v1/campaigns/{campaign['id']}/grants",
        json={"member_ids": shoppers, "channel": "store"},
        headers=clerk,
    )
    assert granted.status_code == 200, granted.text
    codes = {c["member_id"]: c["code"] for c in granted.json()["granted"]}
    # Three claimed, two orders reserve a coupon, one of them commits.
    kept = reserve(api, stack_auth, shoppers[0], codes[shoppers[0]])
    committed = api.post(f"/v1/checkout/redemptions/{kept}/commit", headers=checkout)
    assert committed.status_code == 200, committed.text
    dropped = reserve(api, stack_auth, shoppers[1], codes[shoppers[1]])
    cancelled = api.post(f"/v1/checkout/redemptions/{dropped}/cancel", headers=checkout)
    assert cancelled.status_code == 200, cancelled.text
    # An inviter whose two friends ordered: the top of the board.
    inviter = silver(api, stack_auth)
    for _ in range(2):
        order(api, stack_auth, silver(api, stack_auth, referred_by=inviter), 800)

    page = console(key_of(admin))
    page.click("#nav a[data-nav=reports]")
    funnel = page.locator(f'#funnel-table tr[data-campaign-id="{campaign["id"]}"]')
    expect(funnel.locator("svg.funnel rect")).to_have_count(3)
    expect(funnel.locator("td.claimed")).to_have_text("3")
    expect(funnel.locator("td.reserved")).to_have_text("2")
    expect(funnel.locator("td.committed")).to_have_text("1")
    expect(funnel.locator("td.rate")).to_have_text("50.0%")
    widths = funnel.locator("svg.funnel rect").evaluate_all(
        "rects => rects.map(r => Number(r.getAttribute('width')))"
    )
    assert widths == [240, 160, 80]
    stats = api.get(f"/v1/campaigns/{campaign['id']}", headers=admin).json()["stats"]
    assert stats["conversion_rate"] == 0.5

    # Points: the API's figures in the boxes, the last 30 days' moves as the columns' values.
    points = api.get("/v1/reports/points", headers=admin).json()
    assert points["expiring_30d"] > 0
    for name in ("outstanding", "pending", "owed", "expiring_30d", "expiring_90d"):
        box = page.locator(f"#points-stats [data-stat={name}] strong")
        expect(box).to_have_text(str(points[name]))
    columns = page.locator("#points-moves-chart rect.column")
    expect(columns).to_have_count(6)
    moves = columns.evaluate_all("cs => cs.map(c => [c.dataset.move, Number(c.dataset.value)])")
    assert dict(moves) == {
        name: points["last_30_days"][name]
        for name in ("earned", "spent", "expired", "transferred", "adjusted", "reversed")
    }
    expiring = page.locator("#points-expiry-chart rect.exp30")
    assert float(expiring.get_attribute("width") or 0) == pytest.approx(
        600 * points["expiring_30d"] / points["outstanding"], abs=0.01
    )

    # The referral board and its totals.
    referrals = api.get("/v1/reports/referrals", headers=admin).json()
    board = page.locator("#referral-board tbody tr")
    expect(board).to_have_count(len(referrals["top_inviters"]))
    expect(board.first).to_have_attribute("data-member-id", inviter)
    expect(board.first.locator("td").nth(2)).to_have_text("2")
    for name in ("invitations", "first_orders"):
        expect(page.locator(f"#referral-stats [data-stat={name}] strong")).to_have_text(
            str(referrals[name])
        )

    # The clerk by its key's name: three granted, one redeemed.
    row = page.locator('#clerk-table tbody tr[data-actor="12号店 李娜"]')
    expect(row.locator("td")).to_have_text(["12号店 李娜", "3", "1", "33.3%", ""])
    clerks = api.get("/v1/reports/clerks", headers=admin).json()
    expect(page.locator("#clerk-table tfoot td").first).to_have_text(
        str(clerks["total"]["granted"])
    )

    # Members per tier: every figure of the API's answer, overall first.
    members = api.get("/v1/reports/members", headers=admin).json()
    rows = page.locator("#member-report tbody tr")
    expect(rows).to_have_count(5)
    for figures in [{"tier": "overall", **members["overall"]}, *members["tiers"]]:
        cells = page.locator(f'#member-report tr[data-tier="{figures["tier"]}"] td.num')
        expect(cells.nth(0)).to_have_text(str(figures["new_members"]))
        expect(cells.nth(1)).to_have_text(str(figures["active_members"]))
        expect(cells.nth(5)).to_have_text(str(figures["orders"]))
    silver_row = page.locator('#member-report tr[data-tier="silver"]')
    expect(silver_row.locator("th")).to_have_text("银卡")
    screenshot(page, "console-reports")

    # A window picked by day: the API is asked for it.
    with page.expect_response("**/v1/reports/clerks?from=*") as answer:
        page.click("#report-form button[type=submit]")
    assert answer.value.status == 200


def test_a_clerk_sees_none_of_the_segment_job_and_report_views(
    console: Callable[..., Page], stack_auth: Auth
) -> None:
    page = console(key_of(stack_auth["clerk"]))
    for view in ("segments", "jobs", "reports"):
        expect(page.locator(f"#nav a[data-nav={view}]")).to_be_hidden()
    for hash_ in ("#/segments", "#/jobs", "#/jobs/job_x", "#/reports"):
        page.goto(f"/console{hash_}")
        expect(page.locator("#view-store")).to_be_visible()
        for view in ("segments", "jobs", "reports"):
            expect(page.locator(f"#view-{view}")).to_be_hidden()
