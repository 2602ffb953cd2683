"""Segments and grant jobs in the back office, in a real browser: the RFM table (groups with
their counts and thresholds, recency bands, score counts, an as_of picker) against the API's
answer, a segment built with its size updated as the filter is edited (and a 400 beside the
field), saved, listed with its size and members, granted a campaign as a job whose progress
the jobs view follows to the end with the refusals by reason."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import SCREENSHOTS, key_of, screenshot
from tests.browser.test_console import create
from tests.browser.test_membership_pages import order
from tests.stack import Stack

Auth = dict[str, dict[str, str]]
#: One order of this many yuan is a spend no other test makes: the segment's members are ours.
SPEND_YUAN = 4321


#: Moves a member's history back by :days (its orders, its days of spend, its registration a
#: month before them): the RFM table then scores it as if it had ordered that long ago.
BACKDATE = """
UPDATE member_spend_days SET day = day - :days WHERE member_id = :'member';
UPDATE redemptions SET committed_at = committed_at - make_interval(days => :days)
WHERE member_id = :'member';
UPDATE members SET registered_at = registered_at - make_interval(days => :days + 30)
WHERE member_id = :'member';
"""


def shopper(api: httpx.Client, auth: Auth, orders: int, paid: int = SPEND_YUAN) -> str:
    """A member with `orders` orders of `paid` yuan each."""
    member_id = f"m-{uuid.uuid4().hex[:10]}"
    put = api.put(f"/v1/members/{member_id}", json={}, headers=auth["admin"])
    assert put.status_code == 200, put.text
    for _ in range(orders):
        order(api, auth, member_id, paid)
    return member_id


def backdate(stack: Stack, member_id: str, days: int) -> None:
    subprocess.run(
        ["psql", stack.database_url, "-q", "-v", "ON_ERROR_STOP=1",
         "-v", f"member={member_id}", "-v", f"days={days}"],
        input=BACKDATE, text=True, check=True,
    )  # fmt: skip


def cell(row: Any, n: int) -> Any:
    return row.locator("td").nth(n)


def yuan(cents: int) -> str:
    """Cents as the console writes yuan: 4321, 43.5, 43.21."""
    return str(cents // 100) if cents % 100 == 0 else f"{cents / 100:.2f}".removesuffix("0")


def test_the_rfm_table_shows_the_groups_bands_and_scores_of_the_api_for_a_chosen_day(
    console: Callable[..., Page], api: httpx.Client, stack: Stack, stack_auth: Auth
) -> None:
    # A history: frequent shoppers now, others whose orders were 100 to 200 days ago.
    for _ in range(2):
        shopper(api, stack_auth, 3, paid=900)
    for orders, paid, days_ago in ((2, 600, 120), (2, 600, 130), (1, 300, 200), (1, 20000, 100)):
        backdate(stack, shopper(api, stack_auth, orders, paid), days_ago)
    page = console(key_of(stack_auth["admin"]))
    page.click("#nav a[data-nav=segments]")
    groups = page.locator("#rfm-groups tbody tr")
    expect(groups).to_have_count(7)
    rfm = api.get("/v1/segments/rfm", headers=stack_auth["admin"]).json()
    assert rfm["recency"]["dormant"] >= 3 and rfm["recency"]["lapsed"] >= 1
    window = rfm["window"]
    expect(page.locator("#rfm-window")).to_contain_text(
        f"统计 {window['first_day']} 至 {window['last_day']} 的订单"
    )
    expect(page.locator("#rfm-as-of")).to_have_value(window["last_day"])
    shows_the_groups(page, rfm)
    champions = page.locator('#rfm-groups tr[data-group="champions"]')
    expect(champions).to_contain_text("重要价值")
    f2 = rfm["frequency"]["thresholds"]["score_2_max"]
    expect(cell(champions, 1)).to_contain_text(f"订单 > {f2} 笔")
    m = rfm["monetary"]["thresholds"]
    expect(cell(page.locator('#rfm-scores tr[data-measure="monetary"]'), 1)).to_have_text(
        f"≤ ¥{yuan(m['score_1_max'])} 为 1 分，≤ ¥{yuan(m['score_2_max'])} 为 2 分，更高为 3 分"
    )
    page.locator("#rfm-card").screenshot(path=str(SCREENSHOTS / "console-rfm.png"))

    # 150 days ago (the gateway's day, whatever the browser's zone): the table as of then.
    day = date.fromisoformat(window["last_day"]) - timedelta(days=150)
    page.fill("#rfm-as-of", day.isoformat())
    with page.expect_response("**/v1/segments/rfm?as_of=*") as answer:
        page.click("#rfm-form button[type=submit]")
    then = answer.value.json()
    assert then["window"]["last_day"] == day.isoformat()
    expect(page.locator("#rfm-window")).to_contain_text(f"至 {day.isoformat()} 的订单")
    shows_the_groups(page, then)
    # Two years ago nobody was registered yet.
    page.fill("#rfm-as-of", (day - timedelta(days=600)).isoformat())
    page.click("#rfm-form button[type=submit]")
    expect(page.locator("#rfm-totals [data-stat=members] strong")).to_have_text("0")
    expect(cell(page.locator('#rfm-scores tr[data-measure="monetary"]'), 1)).to_have_text(
        "暂无消费"
    )


def shows_the_groups(page: Page, rfm: dict[str, Any]) -> None:
    """The page's RFM table is `rfm`: members, groups, bands and scores."""
    totals = page.locator("#rfm-totals")
    expect(totals.locator("[data-stat=members] strong")).to_have_text(str(rfm["members"]))
    expect(totals.locator("[data-stat=buyers] strong")).to_have_text(str(rfm["buyers"]))
    for group in rfm["groups"]:
        row = page.locator(f'#rfm-groups tr[data-group="{group["name"]}"]')
        expect(cell(row, 2)).to_have_text(str(group["count"]))
        expect(cell(row, 1)).to_contain_text(group["rule"])
    for band, count in rfm["recency"].items():
        expect(cell(page.locator(f'#rfm-bands tr[data-band="{band}"]'), 2)).to_have_text(str(count))
    for measure in ("frequency", "monetary", "width"):
        row = page.locator(f'#rfm-scores tr[data-measure="{measure}"]')
        for score in ("1", "2", "3"):
            expect(cell(row, 1 + int(score))).to_have_text(str(rfm[measure]["scores"][score]))


def test_an_operator_builds_a_segment_saves_it_and_grants_it_a_campaign_as_a_job(
    console: Callable[..., Page],
    expect_refusal: Callable[[int, str], None],
    api: httpx.Client,
    stack_auth: Auth,
) -> None:
    expect_refusal(400, "/v1/segments/preview")
    members = sorted(shopper(api, stack_auth, 1) for _ in range(3))
    shopper(api, stack_auth, 2)  # twice the spend: outside the segment
    campaign = create(api, stack_auth, name="人群专享 满300减30", amount_off=3000,
                      min_spend=30000, stock=2)  # fmt: skip

    page = console(key_of(stack_auth["admin"]))
    page.click("#nav a[data-nav=segments]")
    form = page.locator("#segment-form")
    size = page.locator("#segment-size")
    expect(size).not_to_have_text("–")  # every member, asked on arrival
    form.locator("#s-spend-min").fill(str(SPEND_YUAN))
    form.locator("#s-spend-max").fill(str(SPEND_YUAN))
    expect(size).to_have_text("3")
    form.locator("#s-orders-min").fill("2")
    expect(size).to_have_text("0")
    form.locator("#s-orders-min").fill("")
    expect(size).to_have_text("3")
    # A range upside down: the API's 400 beside the range, no size.
    form.locator("#s-spend-max").fill("4000")
    spend_error = form.locator('[data-field="filter.spend"] > .field-error')
    expect(spend_error).to_contain_text("filter.spend: min must not exceed max")
    expect(size).to_have_text("–")
    form.locator("#s-spend-max").fill(str(SPEND_YUAN))
    expect(size).to_have_text("3")
    expect(spend_error).to_be_empty()

    name = f"高客单 {uuid.uuid4().hex[:4]}"
    form.locator("#s-name").fill(name)
    form.locator("button[type=submit]").click()
    expect(page.locator("#flash")).to_have_text(f"已保存人群“{name}”（3 人）")
    saved = page.locator("#segment-table tbody tr").filter(has_text=name)
    expect(saved.locator("td.size")).to_have_text("3")
    expect(saved).to_contain_text(f"消费金额（元） ¥{SPEND_YUAN}–¥{SPEND_YUAN}")
    segment_id = saved.get_attribute("data-segment-id")
    assert segment_id
    segment = api.get(f"/v1/segments/{segment_id}", headers=stack_auth["admin"]).json()
    assert segment["filter"] == {"spend": {"min": SPEND_YUAN * 100, "max": SPEND_YUAN * 100}}
    assert segment["size"] == 3
    saved.get_by_role("button", name="名单").click()
    expect(page.locator("#segment-member-ids a")).to_have_text(members)
    screenshot(page, "console-segments")

    # Grant the campaign to the segment: two coupons in stock for three members.
    saved.get_by_role("button", name="发券").click()
    job_form = page.locator("#job-form")
    expect(job_form.locator("#job-segment")).to_have_value(segment_id)
    job_form.locator("#job-campaign").select_option(campaign["id"])
    job_form.locator("#job-channel").select_option("store")
    job_form.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"#/jobs/job_"))
    expect(page.locator("#flash")).to_have_text("发券任务已开始")
    job_id = page.url.rsplit("/", 1)[-1]
    row = page.locator(f'#job-table tr[data-job-id="{job_id}"]')
    expect(row).to_have_class(re.compile(r"\bhighlight\b"))
    expect(row).to_contain_text(name)
    expect(row).to_contain_text("人群专享 满300减30")
    expect(row.locator(".job-state")).to_have_text("已完成", timeout=15_000)
    expect(row.locator(".job-count")).to_have_text("3 / 3（100%）")
    expect(row.locator(".job-granted")).to_have_text("2")
    expect(row.locator(".job-rejected")).to_have_text("已抢光 1")
    assert row.locator("progress").evaluate("bar => [bar.value, bar.max]") == [3, 3]
    job = api.get(f"/v1/jobs/{job_id}", headers=stack_auth["admin"]).json()
    assert (job["state"], job["total"], job["granted"], job["rejected"]) == (
        "done",
        3,
        2,
        {"sold_out": 1},
    )
    screenshot(page, "console-jobs", full_page=False)
