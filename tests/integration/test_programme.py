"""The programme (`PUT/GET /v1/programme`): the defaults before any PUT, the example of API.md
stored and read back, every bad field refused naming it, roles, live campaigns only, the version,
and the points multipliers reaching pricing (and each worker's cache following the version)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from gateway import native
from gateway.checkout.inputs import PricingInputs
from gateway.checkout.schemas import Cart
from gateway.clock import clock
from gateway.programme import services
from gateway.programme.services import ProgrammeCache
from gateway.wire import zone
from tests.conftest import campaign_body, live_campaign, unique
from tests.integration.test_tiers import set_policies

Client = AsyncTestClient[Any]
Auth = dict[str, dict[str, str]]

#: API.md, "Until it is set".
DEFAULTS: dict[str, Any] = {
    "points": {
        "expiry": {"mode": "end_of_next_year"},
        "pending_days": 0,
        "transferable": False,
        "multipliers": [],
    },
    "tiers": {"silver": None, "gold": None, "diamond": None, "downgrade": "one_step"},
    "rewards": {
        "welcome": {"campaign_id": None, "points": 0},
        "first_order": {"campaign_id": None, "points": 0},
        "referral": {
            "inviter": {"campaign_id": None, "points": 0},
            "invitee": {"campaign_id": None, "points": 0},
        },
        "transfer": {"giver_points": 0, "first_order_campaign_id": None},
        "spend_steps": [],
        "birthday": {"campaign_id": None, "days_before": 0},
        "win_back": {"campaign_id": None, "after_days": 60},
    },
}


def example(campaign_id: str) -> dict[str, Any]:
    """API.md's example, its spend step naming `campaign_id`."""
    return {
        "points": {
            "expiry": {"mode": "end_of_next_year"},
            "pending_days": 0,
            "transferable": False,
            "multipliers": [
                {"name": "birthday month", "multiplier": 2, "when": {"birthday_month": True}},
                {"name": "member day", "multiplier": 2, "when": {"day_of_month": 18}},
                {
                    "name": "new season",
                    "multiplier": 3,
                    "when": {
                        "categories": ["outerwear"],
                        "starts_at": "2026-09-01T00:00:00+08:00",
                        "ends_at": "2026-10-01T00:00:00+08:00",
                    },
                },
            ],
        },
        "tiers": {
            "silver": {"single_order": 250000, "yearly_spend": 300000},
            "gold": {"single_order": 400000, "yearly_spend": 500000},
            "diamond": {"single_order": 800000, "yearly_spend": 1000000},
            "downgrade": "one_step",
        },
        "rewards": {
            "welcome": {"campaign_id": None, "points": 0},
            "first_order": {"campaign_id": None, "points": 0},
            "referral": {
                "inviter": {"campaign_id": None, "points": 50},
                "invitee": {"campaign_id": None, "points": 50},
            },
            "transfer": {"giver_points": 0, "first_order_campaign_id": None},
            "spend_steps": [{"period": "order", "min_paid": 48800, "campaign_id": campaign_id}],
            "birthday": {"campaign_id": None, "days_before": 3},
            "win_back": {"campaign_id": None, "after_days": 60},
        },
    }


@pytest_asyncio.fixture(autouse=True)
async def _defaults_after(client: Client, auth: Auth) -> AsyncIterator[None]:
    """The programme is one row for the whole test database: each test leaves the defaults
    (no multiplier may change another file's points)."""
    yield
    response = await client.put("/v1/programme", json={}, headers=auth["admin"])
    assert response.status_code == 200, response.text


async def put(client: Client, auth: Auth, body: Any) -> Any:
    return await client.put("/v1/programme", json=body, headers=auth["admin"])


async def get(client: Client, auth: Auth) -> Any:
    response = await client.get("/v1/programme", headers=auth["admin"])
    assert response.status_code == 200, response.text
    return response.json()


# -- reads and writes -------------------------------------------------------------------------


async def test_before_any_put_get_answers_the_defaults_of_the_contract(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    await db.execute("DELETE FROM programme")
    services.cache.clear()
    assert await get(client, auth) == DEFAULTS


async def test_the_example_of_the_contract_is_stored_and_read_back_as_sent(
    client: Client, auth: Auth
) -> None:
    campaign = await live_campaign(client, auth["admin"])
    body = example(campaign["id"])
    response = await put(client, auth, body)
    assert response.status_code == 200, response.text
    assert response.json() == body
    assert await get(client, auth) == body


async def test_parts_left_out_take_their_defaults(client: Client, auth: Auth) -> None:
    response = await put(client, auth, {"points": {"expiry": {"mode": "days", "days": 365}}})
    assert response.status_code == 200, response.text
    expected = copy.deepcopy(DEFAULTS)
    expected["points"]["expiry"] = {"mode": "days", "days": 365}
    assert response.json() == expected
    thresholds = {"gold": {"yearly_spend": 500000}, "downgrade": "recalculate"}
    response = await put(client, auth, {"tiers": thresholds})
    assert response.status_code == 200, response.text
    assert response.json()["tiers"] == {
        "silver": None,
        "gold": {"single_order": None, "yearly_spend": 500000},
        "diamond": None,
        "downgrade": "recalculate",
    }
    assert response.json()["points"] == DEFAULTS["points"]  # PUT replaced the whole programme


async def test_each_put_bumps_the_version_and_records_an_event(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    before = await db.fetchval("SELECT coalesce(max(version), 0) FROM programme")
    response = await put(client, auth, {"points": {"transferable": True}})
    assert response.status_code == 200, response.text
    assert await db.fetchval("SELECT version FROM programme") == before + 1
    response = await put(client, auth, {"points": {"pending_days": 7}})
    assert response.status_code == 200, response.text
    assert await db.fetchval("SELECT version FROM programme") == before + 2
    event = await db.fetchrow(
        "SELECT actor, detail FROM events WHERE kind = 'programme_set' ORDER BY id DESC LIMIT 1"
    )
    assert event["actor"] == "admin"
    assert event["detail"]["version"] == before + 2
    assert event["detail"]["programme"]["points"]["pending_days"] == 7
    refused = await put(client, auth, {"points": {"pending_days": 400}})
    assert refused.status_code == 400
    assert await db.fetchval("SELECT version FROM programme") == before + 2


@pytest.mark.parametrize("method", ["GET", "PUT"])
async def test_only_admins_read_or_set_the_programme(
    client: Client, auth: Auth, method: str
) -> None:
    anonymous = await client.request(method, "/v1/programme", json={})
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "unauthorized"
    wrong = await client.request(
        method, "/v1/programme", json={}, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    for role in ("front", "clerk", "checkout"):
        response = await client.request(method, "/v1/programme", json={}, headers=auth[role])
        assert response.status_code == 403, role
        assert response.json()["code"] == "forbidden"


# -- validation -------------------------------------------------------------------------------


def rule(**fields: Any) -> dict[str, Any]:
    return {"name": "r", "multiplier": 2, **fields}


def points(**fields: Any) -> dict[str, Any]:
    return {"points": fields}


def multipliers(*rules: dict[str, Any]) -> dict[str, Any]:
    return points(multipliers=list(rules))


def tiers(**fields: Any) -> dict[str, Any]:
    return {"tiers": fields}


def rewards(**fields: Any) -> dict[str, Any]:
    return {"rewards": fields}


BAD: list[tuple[Any, str]] = [
    # points
    (points(expiry={"mode": "monthly"}), "points.expiry"),
    (points(expiry={"mode": "days"}), "points.expiry"),
    (points(expiry={"mode": "days", "days": 0}), "points.expiry.days"),
    (points(expiry={"mode": "days", "days": 36501}), "points.expiry.days"),
    (points(expiry={"mode": "never", "days": 3}), "points.expiry days"),
    (points(expiry="never"), "points.expiry"),
    (points(pending_days=366), "points.pending_days"),
    (points(pending_days=-1), "points.pending_days"),
    (points(pending_days=1.5), "points.pending_days"),
    (points(transferable="yes"), "points.transferable"),
    (points(transferable=1), "points.transferable"),
    (points(multipliers={}), "points.multipliers"),
    (points(multipliers=[rule()] * 51), "points.multipliers"),
    (multipliers(rule(), rule(multiplier=11)), "points.multipliers[1].multiplier"),
    (multipliers(rule(), rule(multiplier=0)), "points.multipliers[1].multiplier"),
    (multipliers(rule(multiplier="2")), "points.multipliers[0].multiplier"),
    (multipliers(rule(multiplier=1.5)), "points.multipliers[0].multiplier"),
    (multipliers(rule(multiplier=10**40)), "points.multipliers[0].multiplier"),
    (multipliers(rule(multiplier=-(10**40))), "points.multipliers[0].multiplier"),
    (multipliers({"multiplier": 2}), "points.multipliers[0]"),
    (multipliers(rule(name="")), "points.multipliers[0].name"),
    (multipliers(rule(name="x" * 65)), "points.multipliers[0].name"),
    (multipliers(rule(name="a\x00b")), "points.multipliers[0].name"),
    (multipliers(rule(name=None)), "points.multipliers[0].name"),
    (multipliers(rule(colour="red")), "points.multipliers[0] colour"),
    (multipliers(rule(when={"birthday_month": "yes"})), "points.multipliers[0].when.birthday"),
    (multipliers(rule(when={"day_of_month": 0})), "points.multipliers[0].when.day_of_month"),
    (multipliers(rule(when={"day_of_month": 32})), "points.multipliers[0].when.day_of_month"),
    (multipliers(rule(when={"weekday": 1})), "points.multipliers[0].when weekday"),
    (
        multipliers(rule(when={"starts_at": "2026-09-01T00:00:00"})),  # no offset
        "points.multipliers[0].when.starts_at",
    ),
    (multipliers(rule(when={"starts_at": "tomorrow"})), "points.multipliers[0].when.starts_at"),
    (
        multipliers(
            rule(),
            rule(
                when={
                    "starts_at": "2026-10-01T00:00:00+08:00",
                    "ends_at": "2026-09-30T16:00:00Z",  # the same instant
                }
            ),
        ),
        "points.multipliers[1].when.ends_at",
    ),
    (multipliers(rule(when={"skus": []})), "points.multipliers[0].when.skus"),
    (multipliers(rule(when={"skus": ["ok", "no space"]})), "points.multipliers[0].when.skus[1]"),
    (multipliers(rule(when={"categories": ["a\x00"]})), "points.multipliers[0].when.categories"),
    (multipliers(rule(when={"categories": "outerwear"})), "points.multipliers[0].when.categories"),
    (multipliers(rule(when={"stores": ["s" * 65]})), "points.multipliers[0].when.stores[0]"),
    (multipliers(rule(when={"channels": ["web"]})), "points.multipliers[0].when.channels[0]"),
    (multipliers(rule(when={"channels": []})), "points.multipliers[0].when.channels"),
    (points(colour="red"), "points colour"),
    # tiers
    (tiers(platinum={"single_order": 1}), "tiers platinum"),
    (tiers(silver={"single_order": -1}), "tiers.silver.single_order"),
    (tiers(silver={"single_order": 10**12 + 1}), "tiers.silver.single_order"),
    (tiers(silver={"yearly_spend": 10**30}), "tiers.silver.yearly_spend"),
    (tiers(silver={"yearly_spend": "300000"}), "tiers.silver.yearly_spend"),
    (tiers(silver={"lifetime": 3}), "tiers.silver lifetime"),
    (tiers(gold=5), "tiers.gold"),
    (
        tiers(silver={"single_order": 400000}, gold={"single_order": 400000}),
        "tiers.gold.single_order",
    ),
    (
        tiers(silver={"yearly_spend": 600000}, diamond={"yearly_spend": 500000}),  # gold unset
        "tiers.diamond.yearly_spend",
    ),
    (
        tiers(
            silver={"single_order": 1, "yearly_spend": 3},
            gold={"single_order": 2, "yearly_spend": 5},
            diamond={"single_order": 3, "yearly_spend": 4},
        ),
        "tiers.diamond.yearly_spend",
    ),
    (tiers(downgrade="two_steps"), "tiers.downgrade"),
    (tiers(downgrade=None), "tiers.downgrade"),
    # rewards
    (rewards(welcome={"points": -1}), "rewards.welcome.points"),
    (rewards(welcome={"points": 10**6 + 1}), "rewards.welcome.points"),
    (rewards(first_order={"points": 10**30}), "rewards.first_order.points"),
    (rewards(first_order={"campaign_id": ""}), "rewards.first_order.campaign_id"),
    (rewards(first_order={"campaign_id": "cmp\x00"}), "rewards.first_order.campaign_id"),
    (rewards(first_order={"campaign_id": 7}), "rewards.first_order.campaign_id"),
    (rewards(referral={"inviter": {"points": -5}}), "rewards.referral.inviter.points"),
    (rewards(referral={"friend": {"points": 5}}), "rewards.referral friend"),
    (rewards(transfer={"giver_points": 10**6 + 1}), "rewards.transfer.giver_points"),
    (rewards(transfer={"points": 1}), "rewards.transfer points"),
    (
        rewards(spend_steps=[{"period": "week", "min_paid": 1, "campaign_id": "c"}]),
        "rewards.spend_steps[0].period",
    ),
    (
        rewards(spend_steps=[{"period": "order", "min_paid": 0, "campaign_id": "c"}]),
        "rewards.spend_steps[0].min_paid",
    ),
    (
        rewards(spend_steps=[{"period": "order", "min_paid": 100}]),
        "rewards.spend_steps[0]",
    ),
    (
        rewards(spend_steps=[{"period": "order", "min_paid": 100, "campaign_id": None}]),
        "rewards.spend_steps[0].campaign_id",
    ),
    (
        rewards(
            spend_steps=[
                {"period": "month", "min_paid": i, "campaign_id": "c"} for i in range(1, 22)
            ]
        ),
        "rewards.spend_steps",
    ),
    (rewards(birthday={"days_before": 31}), "rewards.birthday.days_before"),
    (rewards(birthday={"days_before": -1}), "rewards.birthday.days_before"),
    (rewards(win_back={"after_days": 0}), "rewards.win_back.after_days"),
    (rewards(win_back={"after_days": 3651}), "rewards.win_back.after_days"),
    (rewards(anniversary={}), "rewards anniversary"),
    (rewards(spend_steps=None), "rewards.spend_steps"),
    # the body
    ({"points": None}, "points"),
    ({"extra": 1}, "extra"),
    ([], "object"),
    ("programme", "object"),
]


@pytest.mark.parametrize(("body", "field"), BAD, ids=[field for _, field in BAD])
async def test_a_bad_field_is_400_naming_it(
    client: Client, auth: Auth, body: Any, field: str
) -> None:
    """`field`: the path of the field, then the name of an unknown one (msgspec names it apart)."""
    response = await put(client, auth, body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_request"
    detail = response.json()["detail"]
    assert all(part in detail for part in field.split(" ")), detail


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"null", b"\x00", b'{"points": {"pending_days": 1e999}}', b'{"a":' * 100],
)
async def test_a_body_that_is_not_a_programme_is_400(
    client: Client, auth: Auth, raw: bytes
) -> None:
    response = await client.put(
        "/v1/programme",
        content=raw,
        headers={**auth["admin"], "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_request"


async def test_a_duplicate_spend_step_is_400_naming_it(client: Client, auth: Auth) -> None:
    campaign = await live_campaign(client, auth["admin"])
    step = {"period": "month", "min_paid": 100000, "campaign_id": campaign["id"]}
    response = await put(client, auth, rewards(spend_steps=[step, {**step, "period": "order"}]))
    assert response.status_code == 200, response.text
    response = await put(client, auth, rewards(spend_steps=[step, step]))
    assert response.status_code == 400
    assert "rewards.spend_steps[1]" in response.json()["detail"]


async def test_campaigns_must_exist_and_be_live(client: Client, auth: Auth) -> None:
    live = (await live_campaign(client, auth["admin"]))["id"]
    draft = await client.post("/v1/campaigns", json=campaign_body(), headers=auth["admin"])
    assert draft.status_code == 201
    paused = (await live_campaign(client, auth["admin"]))["id"]
    response = await client.post(f"/v1/campaigns/{paused}/pause", headers=auth["admin"])
    assert response.status_code == 200, response.text
    step = {"period": "order", "min_paid": 48800}
    late = {"period": "month", "min_paid": 48800}
    cases: list[tuple[dict[str, Any], str]] = [
        (rewards(welcome={"campaign_id": "cmp_0000000000000000"}), "rewards.welcome.campaign_id"),
        (rewards(first_order={"campaign_id": draft.json()["id"]}), "rewards.first_order"),
        (rewards(referral={"invitee": {"campaign_id": paused}}), "rewards.referral.invitee"),
        (rewards(transfer={"first_order_campaign_id": paused}), "rewards.transfer.first_order"),
        (
            rewards(spend_steps=[{**step, "campaign_id": live}, {**late, "campaign_id": "nope"}]),
            "rewards.spend_steps[1].campaign_id",
        ),
        (rewards(birthday={"campaign_id": paused}), "rewards.birthday.campaign_id"),
        (rewards(win_back={"campaign_id": "nope"}), "rewards.win_back.campaign_id"),
    ]
    for body, field in cases:
        response = await put(client, auth, body)
        assert response.status_code == 400, (field, response.text)
        assert response.json()["code"] == "invalid_request"
        assert field in response.json()["detail"], response.json()["detail"]
    every = {"campaign_id": live, "points": 10}
    response = await put(
        client,
        auth,
        rewards(
            welcome=every,
            first_order=every,
            referral={"inviter": every, "invitee": every},
            transfer={"giver_points": 5, "first_order_campaign_id": live},
            spend_steps=[{**step, "campaign_id": live}],
            birthday={"campaign_id": live, "days_before": 30},
            win_back={"campaign_id": live, "after_days": 3650},
        ),
    )
    assert response.status_code == 200, response.text


# -- multipliers in pricing -------------------------------------------------------------------

LINES = [
    {"sku": "A", "category": "tops", "unit_price": 50000, "qty": 1},
    {"sku": "B", "category": "outerwear", "unit_price": 50000, "qty": 1},
]


def local_today() -> datetime:
    return datetime.fromtimestamp(clock.now_ms() / 1000, zone())


def this_month_not_today() -> str:
    """A birthday in the current month that is not today (no birthday rate in the way)."""
    today = local_today()
    return f"{today.month:02d}-{1 if today.day != 1 else 2:02d}"


def another_month() -> str:
    return f"{local_today().month % 12 + 1:02d}-01"


def _engine_multiplies() -> bool:
    """Whether the pricing engine reads a line's `points_multiplier` (being taught it now)."""
    line = {"sku": "A", "category": "c", "unit_price": 10000, "qty": 1}
    member = {
        "tier_percent_off": 0,
        "birthday_percent_off": 0,
        "is_birthday": False,
        "coupons_on_member_price": True,
        "points_per_yuan": 1,
    }
    request = {"now": 0, "channel": "online", "store_id": None, "member": member, "coupons": []}
    try:
        once = native.price_quote({**request, "lines": [line]}).points_earned
        twice = native.price_quote(
            {**request, "lines": [{**line, "points_multiplier": 2}]}
        ).points_earned
    except ValueError:
        return False
    return bool(twice == 2 * once)


ENGINE_MULTIPLIES = _engine_multiplies()
needs_engine = pytest.mark.skipif(
    not ENGINE_MULTIPLIES, reason="the pricing engine does not read points_multiplier yet"
)


async def member(client: Client, auth: Auth, tier: str, birthday: str | None = None) -> str:
    member_id = unique()
    response = await client.put(
        f"/v1/members/{member_id}",
        json={"tier": tier, "birthday": birthday},
        headers=auth["admin"],
    )
    assert response.status_code == 200, response.text
    return member_id


def cart(member_id: str, **extra: Any) -> dict[str, Any]:
    return {"member_id": member_id, "channel": "online", "lines": LINES, **extra}


async def test_pricing_puts_each_lines_largest_multiplier_on_the_engine_request(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    rules = [
        rule(name="birthday month", multiplier=2, when={"birthday_month": True}),
        rule(name="outerwear", multiplier=3, when={"categories": ["outerwear"]}),
        rule(name="in store", multiplier=5, when={"channels": ["store"], "stores": ["s-1"]}),
    ]
    inputs = PricingInputs(db, ProgrammeCache())  # a worker of its own
    plain = await member(client, auth, "standard")
    before = await inputs.request(msgspec.convert(cart(plain), Cart), clock.now_ms())
    assert all("points_multiplier" not in line for line in before["lines"])

    response = await put(client, auth, multipliers(*rules))
    assert response.status_code == 200, response.text
    birthday = await member(client, auth, "standard", this_month_not_today())
    not_birthday = await member(client, auth, "standard", another_month())

    async def lines(member_id: str, **extra: Any) -> list[int]:
        request = await inputs.request(
            msgspec.convert(cart(member_id, **extra), Cart), clock.now_ms()
        )
        return [line["points_multiplier"] for line in request["lines"]]

    # The version came back with the pricing inputs: this worker reloaded without being told.
    assert await lines(birthday) == [2, 3]
    assert await lines(not_birthday) == [1, 3]
    assert await lines(not_birthday, channel="store", store_id="s-1") == [5, 5]
    assert await lines(not_birthday, channel="store", store_id="s-2") == [1, 3]

    response = await put(client, auth, {})  # multipliers gone: the request is as before
    assert response.status_code == 200, response.text
    after = await inputs.request(msgspec.convert(cart(birthday), Cart), clock.now_ms())
    assert all("points_multiplier" not in line for line in after["lines"])


async def test_a_worker_follows_a_programme_written_by_another(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    # Another worker's PUT, as this process sees it: only the row moved.
    mine = ProgrammeCache()
    inputs = PricingInputs(db, mine)
    someone = await member(client, auth, "standard")
    await inputs.request(msgspec.convert(cart(someone), Cart), clock.now_ms())
    held = (await mine.get(db)).version
    body = msgspec.json.encode(multipliers(rule(multiplier=4))).decode()
    await db.execute(
        "INSERT INTO programme (id, body, version) VALUES (true, $1::text::jsonb, 1) "
        "ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body, version = programme.version + 1",
        body,
    )
    request = await inputs.request(msgspec.convert(cart(someone), Cart), clock.now_ms())
    assert [line["points_multiplier"] for line in request["lines"]] == [4, 4]
    assert (await mine.get(db)).version == held + 1


@needs_engine
async def test_a_member_day_multiplies_the_points_of_a_quote(client: Client, auth: Auth) -> None:
    await set_policies(client, auth)  # diamond: 20% off, 2 points per yuan
    tomorrow = local_today() + timedelta(days=1)
    response = await put(
        client,
        auth,
        multipliers(rule(name="member day", multiplier=2, when={"day_of_month": tomorrow.day})),
    )
    assert response.status_code == 200, response.text
    diamond = await member(client, auth, "diamond")

    async def points_earned() -> int:
        response = await client.post(
            "/v1/checkout/quote", json=cart(diamond), headers=auth["checkout"]
        )
        assert response.status_code == 200, response.text
        return int(response.json()["points_earned"])

    assert await points_earned() == 2 * 800  # 1000.00 - 20% = 800 yuan, 2 per yuan
    clock.advance(86400)
    assert await points_earned() == 2 * 2 * 800


@needs_engine
async def test_the_birthday_month_multiplies_only_the_lines_it_matches(
    client: Client, auth: Auth
) -> None:
    await set_policies(client, auth)
    response = await put(
        client,
        auth,
        multipliers(
            rule(name="birthday month", multiplier=2, when={"birthday_month": True}),
            rule(name="outerwear", multiplier=3, when={"categories": ["outerwear"]}),
        ),
    )
    assert response.status_code == 200, response.text
    birthday = await member(client, auth, "diamond", this_month_not_today())
    other = await member(client, auth, "diamond", another_month())

    async def points_earned(member_id: str) -> int:
        response = await client.post(
            "/v1/checkout/quote", json=cart(member_id), headers=auth["checkout"]
        )
        assert response.status_code == 200, response.text
        return int(response.json()["points_earned"])

    # Each line: 500.00 - 20% = 400 yuan at 2 per yuan = 800 points, times its multiplier.
    assert await points_earned(birthday) == 800 * 2 + 800 * 3
    assert await points_earned(other) == 800 * 1 + 800 * 3
