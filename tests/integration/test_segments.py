"""Segments (issue 14): the RFM table and saved segments against a plain-Python reference.

The RFM table scores the whole member base, so the reference comparison runs in a database of
its own (created, migrated and dropped here): 10,000 members and 100,000 committed orders (some
refunded whole, some in part) plus reservations that never committed, generated with a fixed
seed and written with COPY, then scored by the service's SQL and by `gateway.segments.reference`
member by member. The HTTP routes run against the test database: shapes, paging, bad input.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient

from gateway.clock import clock
from gateway.errors import SegmentNotFound
from gateway.segments import reference, services
from gateway.segments.reference import Line, Member, Order
from gateway.segments.schemas import GROUPS, SegmentFilter
from gateway.settings import get_settings
from gateway.store.postgres import create_pool, migrate
from gateway.wire import page_cursor, to_ms, zone
from tests.conftest import unique

pytestmark = pytest.mark.asyncio

Client = AsyncTestClient[Any]
Auth = dict[str, dict[str, str]]

#: Shanghai 18:30: orders later on the same local day are in the window (days, not instants).
AS_OF = datetime(2031, 3, 15, 10, 30, tzinfo=UTC)
MEMBERS = 10_000
ORDERS = 100_000
CATEGORIES = ("tops", "shoes", "bags", "beauty", "kids", "home", "sports", "food")
TIERS = ("standard", "silver", "gold", "diamond")
#: Unit prices from a short list: equal spends (ties in M) are common.
PRICES = (990, 1990, 4990, 9900, 19900)


@dataclass
class History:
    members: list[Member]
    orders: list[Order]
    zone: ZoneInfo


def generate(seed: int = 14) -> tuple[History, list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Members, their orders (as the reference reads them) and the redemptions rows and
    member_spend_days rows the gateway would have written for them."""
    rng = random.Random(seed)
    zone = ZoneInfo(services.zone_name())
    members = []
    for i in range(MEMBERS):
        if i % 50 == 0:  # registered after as_of: not in the base
            registered = AS_OF + timedelta(seconds=rng.randint(1, 3 * 86_400))
        elif i % 10 == 1:  # around the 30 days of `new`
            registered = AS_OF - timedelta(seconds=rng.randint(0, 40 * 86_400))
        else:
            registered = AS_OF - timedelta(seconds=rng.randint(0, 900 * 86_400))
        birthday = None if i % 5 == 0 else f"{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        members.append(Member(f"r{i:05d}", rng.choice(TIERS), birthday, registered))
    # 30% never order; the others with weights from 1 to ~60 and an end to their activity.
    buyers = [m for m in members if rng.random() < 0.7]
    weights = [rng.paretovariate(1.3) for _ in buyers]
    last_active = {
        m.member_id: m.registered_at
        + (AS_OF + timedelta(days=2) - m.registered_at) * rng.random() ** 0.5
        for m in buyers
    }
    preferred = {m.member_id: rng.sample(CATEGORIES, rng.randint(1, 5)) for m in buyers}
    orders: list[Order] = []
    redemptions: list[tuple[Any, ...]] = []
    days: dict[tuple[str, Any], list[int]] = {}
    for n, m in enumerate(rng.choices(buyers, weights, k=ORDERS)):
        start, end = m.registered_at, last_active[m.member_id]
        committed = start + (end - start) * rng.random()
        lines = []
        for _ in range(rng.randint(1, 4)):
            lines.append(
                (rng.choice(preferred[m.member_id]), rng.randint(1, 3), rng.choice(PRICES))
            )
        paid = sum(qty * price for _, qty, price in lines)
        roll = rng.random()
        whole = roll < 0.05
        refunded = [0] * len(lines)
        if 0.05 <= roll < 0.15:  # a partial refund: some units of some lines, maybe all of one
            for k, (_, qty, _) in enumerate(lines):
                if rng.random() < 0.5:
                    refunded[k] = rng.randint(1, qty)
            if all(r == line[1] for r, line in zip(refunded, lines, strict=True)):
                refunded[0] = 0  # the whole order would be a whole refund
        net = (
            0 if whole else paid - sum(r * line[2] for r, line in zip(refunded, lines, strict=True))
        )
        orders.append(
            Order(
                member_id=m.member_id,
                committed_at=committed,
                paid=net,
                refunded_whole=whole,
                lines=tuple(
                    Line(category, qty, qty if whole else refunded[k])
                    for k, (category, qty, _) in enumerate(lines)
                ),
            )
        )
        cart = {
            "member_id": m.member_id,
            "channel": "online",
            "lines": [
                {"sku": f"s{k}", "category": c, "unit_price": p, "qty": q}
                for k, (c, q, p) in enumerate(lines)
            ],
        }
        redemptions.append(
            (
                f"o{n:06d}",
                m.member_id,
                "refunded" if whole else "committed",
                json.dumps(cart),
                json.dumps({"total": paid}),
                json.dumps([q for _, q, _ in lines] if whole else refunded),
                committed - timedelta(minutes=1),
                committed + timedelta(minutes=14),
                committed,
            )
        )
        day = days.setdefault((m.member_id, committed.astimezone(zone).date()), [0, 0])
        day[0] += net
        day[1] += 0 if whole else 1
    for n in range(2_000):  # reservations that never committed, and a stranger's orders
        m = rng.choice(members)
        moment = AS_OF - timedelta(seconds=rng.randint(0, 300 * 86_400))
        state = rng.choice(("reserved", "cancelled", "expired"))
        member_id = m.member_id if n % 4 else f"stranger{n}"
        cart = {"lines": [{"sku": "x", "category": "ghost", "unit_price": 100, "qty": 1}]}
        committed_at = moment if member_id.startswith("stranger") else None
        redemptions.append(
            (
                f"x{n:05d}",
                member_id,
                "committed" if committed_at else state,
                json.dumps(cart),
                json.dumps({"total": 100}),
                "[]",
                moment,
                moment + timedelta(minutes=15),
                committed_at,
            )
        )
    spend_days = [(member, day, paid, count) for (member, day), (paid, count) in days.items()]
    return History(members, orders, zone), redemptions, spend_days


@dataclass
class ReferenceDb:
    pool: asyncpg.Pool
    history: History
    measures: dict[str, reference.Measures]
    table: reference.Table


@pytest_asyncio.fixture(scope="module")
async def history_db() -> AsyncIterator[ReferenceDb]:
    base = get_settings().database_url
    name = f"rfm_ref_{secrets.token_hex(4)}"
    dsn = base.rsplit("/", 1)[0] + "/" + name
    admin = await asyncpg.connect(base)
    await admin.execute(f"CREATE DATABASE {name}")  # a name of hex digits, made here
    try:
        await migrate(dsn)
        history, redemptions, spend_days = generate()
        conn = await asyncpg.connect(dsn)
        try:
            await conn.copy_records_to_table(
                "members",
                records=[
                    (m.member_id, m.tier, m.birthday, m.registered_at, m.registered_at)
                    for m in history.members
                ],
                columns=["member_id", "tier", "birthday", "registered_at", "tier_since"],
            )
            await conn.copy_records_to_table(
                "redemptions",
                records=[(*r[:3], b"", *r[3:]) for r in redemptions],
                columns=[
                    "order_id",
                    "member_id",
                    "state",
                    "cart_hash",
                    "cart",
                    "result",
                    "refunded",
                    "reserved_at",
                    "expires_at",
                    "committed_at",
                ],
            )
            await conn.copy_records_to_table(
                "member_spend_days",
                records=spend_days,
                columns=["member_id", "day", "paid", "orders"],
            )
            await conn.execute("ANALYZE")
        finally:
            await conn.close()
        measures = reference.measure(history.members, history.orders, AS_OF, history.zone)
        pool = await create_pool(dsn, 2)
        try:
            yield ReferenceDb(pool, history, measures, reference.table(measures))
        finally:
            await pool.close()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


# The members' bands, scores and groups as the SQL gives them (the route counts these rows).
PER_MEMBER = (
    services._MEASURED  # noqa: S608 - constant fragments
    + "SELECT member_id, band, f_score, m_score, w_score, grp FROM grouped"
)


async def test_the_history_is_the_size_the_issue_asks_for(history_db: ReferenceDb) -> None:
    committed = await history_db.pool.fetchval(
        "SELECT count(*) FROM redemptions WHERE committed_at IS NOT NULL AND order_id LIKE 'o%'"
    )
    assert committed == ORDERS
    assert await history_db.pool.fetchval("SELECT count(*) FROM members") == MEMBERS
    # The generator reaches every band, score and group, and ties (else the test proves less).
    counts = history_db.table.counts()
    for kind in ("recency", "frequency", "monetary", "width", "groups"):
        assert all(n > 0 for n in counts[kind].values()), (kind, counts[kind])


async def test_every_member_gets_the_references_band_scores_and_group(
    history_db: ReferenceDb,
) -> None:
    zone = services.zone_name()
    rows = await history_db.pool.fetch(PER_MEMBER, AS_OF, zone, True)
    got = {
        row["member_id"]: reference.Scores(
            row["band"], row["f_score"], row["m_score"], row["w_score"], row["grp"]
        )
        for row in rows
    }
    assert len(got) == len(history_db.measures)
    wrong = {
        k: (v, history_db.table.scores[k])
        for k, v in got.items()
        if v != history_db.table.scores[k]
    }
    assert not wrong, list(wrong.items())[:5]


async def test_the_rfm_table_matches_the_reference(history_db: ReferenceDb) -> None:
    table = await services.rfm(history_db.pool, AS_OF, services.zone_name())
    expected = history_db.table.counts()
    buyers = sum(1 for m in history_db.measures.values() if m.orders > 0)
    assert table.members == len(history_db.measures) == MEMBERS - MEMBERS // 50
    assert table.buyers == buyers
    assert msgspec.to_builtins(table.recency) == expected["recency"]
    for name, cut in (
        ("frequency", history_db.table.frequency),
        ("monetary", history_db.table.monetary),
        ("width", history_db.table.width),
    ):
        scored = getattr(table, name)
        assert cut is not None
        assert (scored.thresholds.score_1_max, scored.thresholds.score_2_max) == cut
        assert msgspec.to_builtins(scored.scores) == expected[name]
    assert [(g.name, g.count) for g in table.groups] == list(expected["groups"].items())
    assert sum(g.count for g in table.groups) == table.members
    assert (table.window.first_day, table.window.last_day) == ("2030-03-16", "2031-03-15")


# Filters of every kind, alone and together; more are drawn at random below.
FILTERS: list[dict[str, Any]] = [
    {},
    {"recency_days": {"max": 90}},
    {"recency_days": {"min": 91, "max": 180}, "orders": {"min": 2}},
    {"recency_days": {"min": 300}},
    {"orders": {"min": 3, "max": 10}, "spend": {"min": 50_000}},
    {"orders": {"max": 0}},
    {"spend": {"max": 0}},
    {"categories": {"min": 3}},
    {"tiers": ["gold", "diamond"], "birthday_month": 2},
    {"registered_days": {"max": 30}},
    {"registered_days": {"max": 0}},
    {"group": "at_risk", "tiers": ["silver"]},
    {"orders": {"min": 1}, "categories": {"min": 2}, "registered_days": {"max": 400}},
    *({"group": name} for name in GROUPS),
]


def random_filters(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    drawn = []
    for _ in range(count):
        rule: dict[str, Any] = {}
        if rng.random() < 0.4:
            low = rng.randint(0, 200)
            rule["recency_days"] = {"min": low, "max": low + rng.randint(0, 200)}
        if rng.random() < 0.4:
            rule["orders"] = {"min": rng.randint(0, 5)}
        if rng.random() < 0.3:
            rule["spend"] = {"max": rng.randint(0, 200_000)}
        if rng.random() < 0.3:
            rule["categories"] = {"min": rng.randint(1, 5)}
        if rng.random() < 0.3:
            rule["tiers"] = rng.sample(TIERS, rng.randint(1, 3))
        if rng.random() < 0.2:
            rule["registered_days"] = {"max": rng.randint(0, 365)}
        if rng.random() < 0.2:
            rule["birthday_month"] = rng.randint(1, 12)
        if rng.random() < 0.2:
            rule["group"] = rng.choice(GROUPS)
        drawn.append(rule)
    return drawn


def expected_ids(db: ReferenceDb, rule: SegmentFilter) -> list[str]:
    return sorted(
        m.member_id
        for m in db.measures.values()
        if reference.matches(rule, m, db.table.scores[m.member_id].group)
    )


@pytest.mark.parametrize("raw", FILTERS + random_filters(20))
async def test_a_filters_size_and_first_page_match_python_filtering(
    history_db: ReferenceDb, raw: dict[str, Any]
) -> None:
    rule = services.check_filter(msgspec.convert(raw, SegmentFilter))
    expected = expected_ids(history_db, rule)
    zone = services.zone_name()
    size = await services.filter_size(history_db.pool, rule, as_of=AS_OF, zone=zone)
    assert size == len(expected)
    page = await services.filter_page(
        history_db.pool, rule, after=None, limit=50, as_of=AS_OF, zone=zone
    )
    assert page == expected[:50]
    if len(expected) > 60:  # a page from the middle
        after = expected[len(expected) // 2]
        page = await services.filter_page(
            history_db.pool, rule, after=after, limit=10, as_of=AS_OF, zone=zone
        )
        start = len(expected) // 2 + 1
        assert page == expected[start : start + 10]


@pytest.mark.parametrize(
    "raw",
    [
        {"orders": {"min": 2}, "recency_days": {"max": 200}},
        {"group": "loyal"},
        {"birthday_month": 7},
    ],
)
async def test_a_saved_segment_pages_through_every_member_once(
    history_db: ReferenceDb, raw: dict[str, Any]
) -> None:
    """What a grant job does: `segment_member_ids` page after page, then `segment_size`."""
    rule = msgspec.convert(raw, SegmentFilter)
    segment_id = services.new_segment_id()
    await history_db.pool.execute(services.INSERT_SEGMENT, segment_id, "test", raw, "test", AS_OF)
    now_ms = to_ms(AS_OF)
    seen: list[str] = []
    after: str | None = None
    async with history_db.pool.acquire() as conn:
        while True:
            page = await services.segment_member_ids(
                conn, segment_id, after=after, limit=211, now_ms=now_ms
            )
            seen.extend(page)
            if len(page) < 211:
                break
            after = page[-1]
        size = await services.segment_size(conn, segment_id, now_ms=now_ms)
    expected = expected_ids(history_db, rule)
    assert seen == expected
    assert size == len(expected) > 211


async def test_a_missing_segment_is_segment_not_found(history_db: ReferenceDb) -> None:
    with pytest.raises(SegmentNotFound):
        await services.segment_member_ids(
            history_db.pool, "seg_nobody", after=None, limit=10, now_ms=to_ms(AS_OF)
        )


async def test_scoring_before_anyone_registered_is_empty_with_null_thresholds(
    history_db: ReferenceDb,
) -> None:
    table = await services.rfm(history_db.pool, AS_OF - timedelta(days=2000), services.zone_name())
    assert table.members == table.buyers == 0
    assert table.frequency.thresholds.score_1_max is None
    assert [g.count for g in table.groups] == [0] * len(GROUPS)


# -- the routes, on the test database ---------------------------------------------------------


def at_local_noon() -> None:
    """Moves the clock to the next local noon, so that "registered today" stays today."""
    now = clock.now().astimezone(zone())
    noon = now.replace(hour=12, minute=0, second=0, microsecond=0)
    if noon <= now:
        noon += timedelta(days=1)
    clock.advance((noon - now).total_seconds())


async def register(client: Client, auth: Auth, tier: str, birthday: str) -> str:
    member = unique("seg")
    put = await client.put(
        f"/v1/members/{member}", json={"tier": tier, "birthday": birthday}, headers=auth["admin"]
    )
    assert put.status_code in (200, 201), put.text
    return member


async def test_the_rfm_route_answers_the_table_with_its_rules(client: Client, auth: Auth) -> None:
    response = await client.get("/v1/segments/rfm", headers=auth["admin"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert [g["name"] for g in body["groups"]] == list(GROUPS)
    assert sum(g["count"] for g in body["groups"]) == body["members"]
    assert sum(body["recency"].values()) == body["members"]
    for measure in ("frequency", "monetary", "width"):
        assert set(body[measure]["thresholds"]) == {"score_1_max", "score_2_max"}
        assert sum(body[measure]["scores"].values()) == body["members"]
        assert set(body[measure]["scores"]) == {"1", "2", "3"}
    # An as_of with an unencoded '+' (a space by then) is read as the '+' it was.
    past = await client.get(
        "/v1/segments/rfm", params={"as_of": "1975-01-01T00:00:00 08:00"}, headers=auth["admin"]
    )
    assert past.status_code == 200, past.text
    assert past.json()["members"] == 0 and past.json()["as_of"].startswith("1975-01-01T")
    assert past.json()["window"] == {"first_day": "1974-01-02", "last_day": "1975-01-01"}


@pytest.mark.parametrize(
    "as_of", ["yesterday", "2026-11-11", "2026-11-11T00:00:00", "0001-01-01T00:00:00Z", ""]
)
async def test_a_bad_as_of_is_400_naming_it(client: Client, auth: Auth, as_of: str) -> None:
    response = await client.get("/v1/segments/rfm", params={"as_of": as_of}, headers=auth["admin"])
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith("as_of")


async def test_a_segment_is_saved_listed_read_and_paged(client: Client, auth: Auth) -> None:
    at_local_noon()
    ours = sorted([await register(client, auth, "diamond", "02-29") for _ in range(5)])
    rule = {"tiers": ["diamond"], "birthday_month": 2, "registered_days": {"max": 0}}
    created = await client.post(
        "/v1/segments", json={"name": "二月钻石", "filter": rule}, headers=auth["admin"]
    )
    assert created.status_code == 201, created.text
    segment = created.json()
    assert segment["name"] == "二月钻石" and segment["filter"] == rule
    assert segment["id"].startswith("seg_") and segment["size"] >= 5
    preview = await client.post(
        "/v1/segments/preview", json={"filter": rule}, headers=auth["admin"]
    )
    assert preview.status_code == 200 and preview.json()["size"] >= segment["size"]

    read = await client.get(f"/v1/segments/{segment['id']}", headers=auth["admin"])
    assert read.status_code == 200 and read.json()["filter"] == rule
    assert read.json()["size"] >= 5

    everyone = await client.get(
        f"/v1/segments/{segment['id']}/members", params={"limit": 1000}, headers=auth["admin"]
    )
    assert everyone.status_code == 200
    all_ids = everyone.json()["member_ids"]
    assert set(ours) <= set(all_ids) and all_ids == sorted(all_ids)
    paged: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["after"] = cursor
        page = await client.get(
            f"/v1/segments/{segment['id']}/members", params=params, headers=auth["admin"]
        )
        assert page.status_code == 200, page.text
        paged.extend(page.json()["member_ids"])
        cursor = page.json()["next"]
        if cursor is None:
            break
    assert paged[: len(all_ids)] == all_ids  # members registered since may follow

    listed = await client.get("/v1/segments", params={"limit": 200}, headers=auth["admin"])
    assert listed.status_code == 200
    assert segment["id"] in [s["id"] for s in listed.json()["segments"]]
    first = await client.get("/v1/segments", params={"limit": 1}, headers=auth["admin"])
    assert len(first.json()["segments"]) == 1 and first.json()["next"]
    second = await client.get(
        "/v1/segments", params={"limit": 1, "before": first.json()["next"]}, headers=auth["admin"]
    )
    assert second.status_code == 200
    assert second.json()["segments"][0]["id"] != first.json()["segments"][0]["id"]


async def test_a_segments_members_follow_the_clock(client: Client, auth: Auth) -> None:
    """Registered today: in `registered_days <= 0` now, out of it tomorrow."""
    at_local_noon()
    member = await register(client, auth, "silver", "12-24")
    rule = {"tiers": ["silver"], "birthday_month": 12, "registered_days": {"max": 0}}
    created = await client.post(
        "/v1/segments", json={"name": "new silver", "filter": rule}, headers=auth["admin"]
    )
    segment_id = created.json()["id"]
    url = f"/v1/segments/{segment_id}/members"
    now = await client.get(url, params={"limit": 1000}, headers=auth["admin"])
    assert member in now.json()["member_ids"]
    clock.advance(2 * 86_400)
    later = await client.get(url, params={"limit": 1000}, headers=auth["admin"])
    assert member not in later.json()["member_ids"]


BAD_FILTERS: list[tuple[Any, str]] = [
    ({"orders": {"min": 5, "max": 2}}, "filter.orders"),
    ({"spend": {}}, "filter.spend"),
    ({"recency_days": {"min": -1}}, "filter.recency_days.min"),
    ({"spend": {"max": "100"}}, "filter.spend.max"),
    ({"categories": {"min": 1, "max": 3}}, "filter.categories"),
    ({"categories": {}}, "filter.categories"),
    ({"registered_days": {"min": 3}}, "filter.registered_days"),
    ({"tiers": ["platinum"]}, "filter.tiers[0]"),
    ({"tiers": []}, "filter.tiers"),
    ({"birthday_month": 13}, "filter.birthday_month"),
    ({"birthday_month": 0}, "filter.birthday_month"),
    ({"group": "whales"}, "filter.group"),
    ({"colour": "red"}, "filter"),
    ([], "filter"),
]


@pytest.mark.parametrize(("rule", "field"), BAD_FILTERS)
async def test_a_bad_filter_is_400_naming_the_field(
    client: Client, auth: Auth, rule: Any, field: str
) -> None:
    for path, body in (
        ("/v1/segments", {"name": "bad", "filter": rule}),
        ("/v1/segments/preview", {"filter": rule}),
    ):
        response = await client.post(path, json=body, headers=auth["admin"])
        assert response.status_code == 400, (path, response.text)
        assert response.json()["code"] == "invalid_request"
        assert response.json()["detail"].startswith(field + ":"), response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"filter": {}}, "`name`"),
        ({"name": "", "filter": {}}, "name:"),
        ({"name": "x" * 101, "filter": {}}, "name:"),
        ({"name": "x", "filter": {}, "size": 3}, "`size`"),
    ],
)
async def test_a_bad_segment_body_is_400(
    client: Client, auth: Auth, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/segments", json=body, headers=auth["admin"])
    assert response.status_code == 400, response.text
    assert field in response.json()["detail"], response.json()["detail"]


async def test_unknown_segments_bad_ids_and_bad_cursors(client: Client, auth: Auth) -> None:
    missing = await client.get("/v1/segments/seg_0000000000000000", headers=auth["admin"])
    assert missing.status_code == 404 and missing.json()["code"] == "segment_not_found"
    missing = await client.get("/v1/segments/seg_0000000000000000/members", headers=auth["admin"])
    assert missing.status_code == 404 and missing.json()["code"] == "segment_not_found"
    bad = await client.get("/v1/segments/bad%20id", headers=auth["admin"])
    assert bad.status_code == 400 and bad.json()["detail"].startswith("segment_id")
    created = await client.post(
        "/v1/segments", json={"name": "all", "filter": {}}, headers=auth["admin"]
    )
    url = f"/v1/segments/{created.json()['id']}/members"
    for params, field in (
        ({"after": "not a cursor"}, "after"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
    ):
        response = await client.get(url, params=params, headers=auth["admin"])
        assert response.status_code == 400, response.text
        assert field in response.json()["detail"]
    listed = await client.get("/v1/segments", params={"before": "zzz"}, headers=auth["admin"])
    assert listed.status_code == 400 and listed.json()["detail"].startswith("before")
    # A forged cursor whose time is past the year 9999 (up to 18 digits pass the format).
    beyond = page_cursor(999_999_999_999_999_999, "seg_0000000000000000")
    listed = await client.get("/v1/segments", params={"before": beyond}, headers=auth["admin"])
    assert listed.status_code == 400 and listed.json()["detail"].startswith("before")
