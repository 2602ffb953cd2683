"""The back office's rewards in a real browser: the programme's rewards edited with real fields
(campaign pickers from the live campaigns, points, spend steps added and removed, the API's
400 beside the field it names), and a member's rewards (given, or refused with the reason)
paged on the member's page. The data is made through the API: campaigns, the programme,
members with a referrer, orders through checkout."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import SCREENSHOTS, key_of
from tests.browser.test_console import create
from tests.browser.test_membership_pages import order

Auth = dict[str, dict[str, str]]


@pytest.fixture
def reset_programme(api: httpx.Client, stack_auth: Auth) -> Iterator[None]:
    """The test sets the programme it needs; the defaults again afterwards (every reward off)."""
    yield
    assert api.put("/v1/programme", json={}, headers=stack_auth["admin"]).status_code == 200


def register(api: httpx.Client, auth: Auth, **body: Any) -> str:
    member_id = f"m-{uuid.uuid4().hex[:10]}"
    put = api.put(f"/v1/members/{member_id}", json=body, headers=auth["admin"])
    assert put.status_code == 200, put.text
    return member_id


def rewards_of(api: httpx.Client, auth: Auth, member_id: str, count: int) -> list[dict[str, Any]]:
    """The member's rewards once the worker (every 2 s) has given `count` of them."""
    deadline = time.monotonic() + 30
    while True:
        answer = api.get(f"/v1/members/{member_id}/rewards?limit=200", headers=auth["admin"])
        assert answer.status_code == 200, answer.text
        rewards: list[dict[str, Any]] = answer.json()["rewards"]
        if len(rewards) >= count or time.monotonic() > deadline:
            assert len(rewards) == count, rewards
            return rewards
        time.sleep(0.2)  # the worker's next round: a condition polled, not a time waited for


def test_an_operator_sets_every_reward_with_campaign_pickers_and_the_api_error_shows_beside_it(
    console: Callable[..., Page],
    expect_refusal: Callable[[int, str], None],
    api: httpx.Client,
    stack_auth: Auth,
    reset_programme: None,
) -> None:
    expect_refusal(400, "/v1/programme")
    welcome = create(api, stack_auth, name="开卡礼 无门槛10元", kind="amount", amount_off=1000,
                     min_spend=0)  # fmt: skip
    gift = create(api, stack_auth, name="满赠 满500减50", amount_off=5000, min_spend=50000)
    draft = create(api, stack_auth, publish=False, name="草稿 不可选")
    page = console(key_of(stack_auth["admin"]))
    page.click("#nav a[data-nav=programme]")
    form = page.locator("#programme-form")
    picker = form.locator("#r-welcome-campaign")
    # The live campaigns by name and offer, "no coupon" first; never a draft.
    expect(picker.locator(f'option[value="{welcome["id"]}"]')).to_have_text(
        "开卡礼 无门槛10元 · 无门槛10元"
    )
    expect(picker.locator("option").first).to_have_text("不送券")
    expect(picker.locator(f'option[value="{draft["id"]}"]')).to_have_count(0)
    expect(form.locator("#spend-steps-none")).to_be_visible()

    picker.select_option(welcome["id"])
    form.locator("#r-welcome-points").fill("100")
    form.locator("#r-first_order-points").fill("50")
    form.locator("#r-inviter-campaign").select_option(gift["id"])
    form.locator("#r-inviter-points").fill("50")
    form.locator("#r-invitee-campaign").select_option(welcome["id"])
    form.locator("#r-giver-points").fill("20")
    form.locator("#r-transfer-campaign").select_option(gift["id"])
    form.locator("#r-birthday-campaign").select_option(gift["id"])
    form.locator("#r-birthday-days").fill("45")
    form.locator("#r-win-back-campaign").select_option(welcome["id"])
    form.locator("#r-win-back-days").fill("60")
    steps = form.locator("#spend-steps .step")
    for period, yuan, campaign in (("order", "488", gift), ("month", "0", welcome),
                                   ("order", "999", welcome)):  # fmt: skip
        page.click("#step-add")
        step = steps.last
        step.locator("[name=s_period]").select_option(period)
        step.locator("[name=s_min_paid]").fill(yuan)
        step.locator("[name=s_campaign]").select_option(campaign["id"])
    expect(steps.nth(2).locator(".step-no")).to_have_text("#3")
    steps.nth(2).locator(".step-remove").click()
    expect(steps).to_have_count(2)

    # Each 400 beside the field it names: the second step's amount, then the birthday's days.
    submit = page.locator("#programme-form button[type=submit]")
    submit.click()
    step_error = steps.nth(1).locator('[data-field="rewards.spend_steps[1].min_paid"] .field-error')
    expect(step_error).to_contain_text("rewards.spend_steps[1].min_paid")
    steps.nth(1).locator("[name=s_min_paid]").fill("2000")
    submit.click()
    days_error = form.locator('[data-field="rewards.birthday.days_before"] .field-error')
    expect(days_error).to_contain_text("rewards.birthday.days_before")
    expect(step_error).to_be_empty()
    form.locator("#r-birthday-days").fill("3")
    submit.click()
    expect(page.locator("#flash")).to_have_text("规则已保存")
    expect(days_error).to_be_empty()

    saved = api.get("/v1/programme", headers=stack_auth["admin"]).json()["rewards"]
    assert saved == {
        "welcome": {"campaign_id": welcome["id"], "points": 100},
        "first_order": {"campaign_id": None, "points": 50},
        "referral": {
            "inviter": {"campaign_id": gift["id"], "points": 50},
            "invitee": {"campaign_id": welcome["id"], "points": 0},
        },
        "transfer": {"giver_points": 20, "first_order_campaign_id": gift["id"]},
        "spend_steps": [
            {"period": "order", "min_paid": 48800, "campaign_id": gift["id"]},
            {"period": "month", "min_paid": 200000, "campaign_id": welcome["id"]},
        ],
        "birthday": {"campaign_id": gift["id"], "days_before": 3},
        "win_back": {"campaign_id": welcome["id"], "after_days": 60},
    }
    card = form.locator(".rewards")
    card.scroll_into_view_if_needed()
    card.screenshot(path=str(SCREENSHOTS / "console-rewards.png"))

    # What was saved is what the page shows again; a campaign no longer live stays named.
    paused = api.post(f"/v1/campaigns/{gift['id']}/pause", headers=stack_auth["admin"])
    assert paused.status_code == 200, paused.text
    page.reload()
    expect(steps).to_have_count(2)
    expect(steps.nth(1).locator("[name=s_min_paid]")).to_have_value("2000")
    expect(steps.nth(1).locator("[name=s_period]")).to_have_value("month")
    expect(form.locator("#r-welcome-campaign")).to_have_value(welcome["id"])
    expect(form.locator("#r-birthday-days")).to_have_value("3")
    expect(form.locator("#r-birthday-campaign")).to_have_value(gift["id"])
    expect(form.locator("#r-birthday-campaign option:checked")).to_have_text(
        f"{gift['id']}（非进行中）"
    )
    submit.click()
    expect(
        form.locator('[data-field="rewards.referral.inviter.campaign_id"] .field-error')
    ).to_contain_text("not live")


def test_a_members_rewards_show_what_was_given_and_why_a_coupon_was_not_paged(
    console: Callable[..., Page], api: httpx.Client, stack_auth: Auth, reset_programme: None
) -> None:
    admin = stack_auth["admin"]
    welcome = create(api, stack_auth, name="开卡礼", kind="amount", amount_off=1000, min_spend=0)
    sold_out = create(api, stack_auth, name="首单礼 已抢光", kind="amount", amount_off=500,
                      min_spend=0, stock=1)  # fmt: skip
    taken = api.post(
        f"/v1/campaigns/{sold_out['id']}/claims",
        json={"member_id": register(api, stack_auth), "channel": "online"},
        headers=stack_auth["front"],
    )
    assert taken.status_code == 201, taken.text
    steps = create(api, stack_auth, name="满赠", kind="amount", amount_off=300, min_spend=0,
                   per_member_limit=2)  # fmt: skip
    programme = {
        "rewards": {
            "welcome": {"campaign_id": welcome["id"], "points": 100},
            "first_order": {"campaign_id": sold_out["id"], "points": 50},
            "referral": {"inviter": {"points": 30}, "invitee": {"points": 10}},
            "spend_steps": [{"period": "order", "min_paid": 100, "campaign_id": steps["id"]}],
        }
    }
    put = api.put("/v1/programme", json=programme, headers=admin)
    assert put.status_code == 200, put.text
    inviter = register(api, stack_auth)
    member = register(api, stack_auth, referred_by=inviter)
    for _ in range(20):  # 20 spend steps: two coupons, then the campaign's limit
        order(api, stack_auth, member, 20)
    # welcome, first order, the invitee's side of the referral, 20 spend steps.
    given = rewards_of(api, stack_auth, member, 23)
    welcome_coupon = next(r for r in given if r["kind"] == "welcome")["coupon_code"]
    rewards_of(api, stack_auth, inviter, 2)  # its welcome, and the inviter's side

    page = console(key_of(admin))
    page.goto(f"/console#/members/{member}")
    rows = page.locator("#member-rewards tr")
    expect(rows).to_have_count(20)
    expect(rows.first).to_contain_text("满赠")
    page.click("#rewards-more")
    expect(rows).to_have_count(23)
    expect(page.locator("#rewards-more")).to_be_hidden()
    spend = page.locator('#member-rewards tr[data-kind="spend_steps"]')
    expect(spend).to_have_count(20)
    expect(spend.filter(has_text="未发券：已达领取上限")).to_have_count(18)
    expect(spend.first).to_contain_text("订单 o-")
    first_order = page.locator('#member-rewards tr[data-kind="first_order"]')
    expect(first_order).to_contain_text("首单 ")
    expect(first_order).to_contain_text("+50")
    expect(first_order).to_contain_text("未发券：已抢光")
    welcome_row = page.locator('#member-rewards tr[data-kind="welcome"]')
    expect(welcome_row).to_contain_text("开卡礼")
    expect(welcome_row).to_contain_text("注册开卡")
    expect(welcome_row).to_contain_text("+100")
    expect(welcome_row).to_contain_text(welcome_coupon)
    referral = page.locator('#member-rewards tr[data-kind="referral"]')
    expect(referral).to_contain_text(f"受 {inviter} 推荐，完成首单")
    expect(referral).to_contain_text("+10")
    card = page.locator("#rewards-card")
    card.scroll_into_view_if_needed()
    card.screenshot(path=str(SCREENSHOTS / "console-member-rewards.png"))

    page.goto(f"/console#/members/{inviter}")
    invited = page.locator('#member-rewards tr[data-kind="referral"]')
    expect(invited).to_contain_text(f"推荐的好友 {member} 完成首单")
    expect(invited).to_contain_text("+30")
