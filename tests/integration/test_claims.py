"""The claim path against the real Redis and Postgres: races, refusals, idempotency, stock."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from gateway.clock import clock
from gateway.ops.lanes import hot_lanes
from tests.conftest import campaign_body, live_campaign, run_id_of, unique

Client = AsyncTestClient[Any]
Auth = dict[str, dict[str, str]]


async def claim(client: Client, auth: Auth, campaign_id: str, member: str, **extra: Any) -> Any:
    headers = {**auth["front"], **extra.pop("headers", {})}
    return await client.post(
        f"/v1/campaigns/{campaign_id}/claims",
        json={"member_id": member, "channel": "online", **extra},
        headers=headers,
    )


async def stats(client: Client, auth: Auth, campaign_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/campaigns/{campaign_id}", headers=auth["admin"])
    return dict(response.json()["stats"])


@pytest.mark.parametrize("round_", range(4))
async def test_race_never_oversells_nor_exceeds_the_limit(
    client: Client, auth: Auth, db: asyncpg.Pool, round_: int
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=300, per_member_limit=1)
    members = [unique(f"r{round_}") for _ in range(1000)]
    attempts = members * 2
    random.Random(round_).shuffle(attempts)
    responses = await asyncio.gather(*(claim(client, auth, campaign["id"], m) for m in attempts))
    granted = [r.json() for r in responses if r.status_code == 201]
    refused = [r.json()["code"] for r in responses if r.status_code != 201]
    assert len(granted) == 300
    assert set(refused) <= {"sold_out", "limit_reached"}
    assert all(r.status_code in (201, 409) for r in responses)
    holders = [c["member_id"] for c in granted]
    assert len(set(holders)) == 300
    assert len({c["code"] for c in granted}) == 300
    live = await stats(client, auth, campaign["id"])
    assert live["remaining"] == 0 and live["claimed"] == 300
    rows = await db.fetchval("SELECT count(*) FROM coupons WHERE campaign_id = $1", campaign["id"])
    events = await db.fetchval(
        "SELECT count(*) FROM events WHERE campaign_id = $1 AND kind = 'claim'", campaign["id"]
    )
    assert rows == 300 and events == 300


async def test_a_member_limit_above_one_holds_under_concurrency(client: Client, auth: Auth) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=1000, per_member_limit=3)
    members = [unique() for _ in range(20)]
    attempts = members * 6
    random.shuffle(attempts)
    responses = await asyncio.gather(*(claim(client, auth, campaign["id"], m) for m in attempts))
    per_member: dict[str, int] = {}
    for r in responses:
        if r.status_code == 201:
            per_member[r.json()["member_id"]] = per_member.get(r.json()["member_id"], 0) + 1
        else:
            assert r.json()["code"] == "limit_reached"
    assert per_member == dict.fromkeys(members, 3)


async def test_the_coupon_answered_201_is_in_the_ledger(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    campaign = await live_campaign(client, auth["admin"])
    member = unique()
    response = await claim(client, auth, campaign["id"], member)
    assert response.status_code == 201
    coupon = response.json()
    row = await db.fetchrow("SELECT * FROM coupons WHERE code = $1", coupon["code"])
    assert row is not None and row["member_id"] == member and row["state"] == "active"
    assert coupon["kind"] == "threshold" and coupon["transferable"] is True
    assert coupon["transferred_from"] is None and coupon["channel"] == "online"
    claimed = datetime.fromisoformat(coupon["claimed_at"])
    until = datetime.fromisoformat(coupon["valid_until"])
    assert until - claimed == timedelta(days=7)
    assert coupon["claimed_at"].endswith("+08:00")


async def test_idempotency_key_replays_and_mismatches(client: Client, auth: Auth) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=1)
    member = unique()
    key = {"Idempotency-Key": unique("key")}
    first = await claim(client, auth, campaign["id"], member, headers=key)
    assert first.status_code == 201
    # Sold out now, but the same key and body still return the same coupon.
    replays = await asyncio.gather(
        *(claim(client, auth, campaign["id"], member, headers=key) for _ in range(10))
    )
    assert all(r.status_code == 201 and r.json() == first.json() for r in replays)
    other = await claim(client, auth, campaign["id"], unique(), headers=key)
    assert other.status_code == 409 and other.json()["code"] == "idempotency_mismatch"
    assert (await stats(client, auth, campaign["id"]))["claimed"] == 1


async def test_concurrent_first_use_of_one_key_gives_one_coupon(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=100, per_member_limit=50)
    member = unique()
    key = {"Idempotency-Key": unique("key")}
    responses = await asyncio.gather(
        *(claim(client, auth, campaign["id"], member, headers=key) for _ in range(20))
    )
    codes = {r.json()["code"] for r in responses}
    assert all(r.status_code == 201 for r in responses) and len(codes) == 1
    assert (await stats(client, auth, campaign["id"]))["claimed"] == 1
    events = await db.fetchval(
        "SELECT count(*) FROM events WHERE campaign_id = $1 AND kind = 'claim'", campaign["id"]
    )
    assert events == 1


async def test_refusals(client: Client, auth: Auth) -> None:
    missing = await claim(client, auth, "cmp_doesnotexist", unique())
    assert missing.status_code == 404 and missing.json()["code"] == "campaign_not_found"
    odd = await claim(client, auth, "{c:x}", unique())
    assert odd.status_code == 404 and odd.json()["code"] == "campaign_not_found"

    draft = await client.post("/v1/campaigns", json=campaign_body(), headers=auth["admin"])
    refused = await claim(client, auth, draft.json()["id"], unique())
    assert refused.status_code == 409 and refused.json()["code"] == "not_live"

    campaign = await live_campaign(client, auth["admin"], stock=1)
    cid = campaign["id"]
    await client.post(f"/v1/campaigns/{cid}/pause", headers=auth["admin"])
    assert (await claim(client, auth, cid, unique())).json()["code"] == "not_live"
    await client.post(f"/v1/campaigns/{cid}/resume", headers=auth["admin"])
    member = unique()
    assert (await claim(client, auth, cid, member)).status_code == 201
    again = await claim(client, auth, cid, member)
    assert again.status_code == 409 and again.json()["code"] == "limit_reached"
    sold = await claim(client, auth, cid, unique())
    assert sold.status_code == 409 and sold.json()["code"] == "sold_out"
    await client.post(f"/v1/campaigns/{cid}/close", headers=auth["admin"])
    assert (await claim(client, auth, cid, unique())).json()["code"] == "not_live"


async def test_claim_window_with_a_moved_clock(client: Client, auth: Auth) -> None:
    now = datetime.now(UTC)
    campaign = await live_campaign(
        client,
        auth["admin"],
        claim_starts_at=(now + timedelta(hours=1)).isoformat(),
        claim_ends_at=(now + timedelta(hours=2)).isoformat(),
    )
    early = await claim(client, auth, campaign["id"], unique())
    assert early.status_code == 409 and early.json()["code"] == "not_started"
    clock.advance(90 * 60)
    assert (await claim(client, auth, campaign["id"], unique())).status_code == 201
    clock.advance(60 * 60)
    late = await claim(client, auth, campaign["id"], unique())
    assert late.status_code == 409 and late.json()["code"] == "ended"


async def test_link_tokens(client: Client, auth: Auth) -> None:
    campaign = await live_campaign(client, auth["admin"])
    link = (await client.get(f"/v1/campaigns/{campaign['id']}/link", headers=auth["admin"])).json()
    assert link["token"] in link["url"] and campaign["id"] in link["url"]
    ok = await claim(client, auth, campaign["id"], unique(), token=link["token"])
    assert ok.status_code == 201
    for bad in ("", "x" * 22, link["token"][:-1] + ("A" if link["token"][-1] != "A" else "B")):
        refused = await claim(client, auth, campaign["id"], unique(), token=bad)
        assert refused.status_code == 403 and refused.json()["code"] == "invalid_token"
    other = await live_campaign(client, auth["admin"])
    cross = await claim(client, auth, other["id"], unique(), token=link["token"])
    assert cross.status_code == 403


async def test_qr_codes_render_the_link(client: Client, auth: Auth) -> None:
    campaign = await live_campaign(client, auth["admin"])
    svg = await client.get(f"/v1/campaigns/{campaign['id']}/qr.svg", headers=auth["admin"])
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content
    png = await client.get(f"/v1/campaigns/{campaign['id']}/qr.png", headers=auth["admin"])
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


async def test_stock_raised_and_lowered_during_a_storm(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=200)
    cid = campaign["id"]

    async def operator() -> list[int]:
        statuses = []
        for delta in (100, -50, 300, -1000, 25):
            await asyncio.sleep(0)
            r = await client.post(
                f"/v1/campaigns/{cid}/stock", json={"delta": delta}, headers=auth["admin"]
            )
            statuses.append(r.status_code)
        return statuses

    claims = [claim(client, auth, cid, unique()) for _ in range(800)]
    *responses, ops = await asyncio.gather(*claims, operator())
    assert ops[3] == 409  # -1000 would drop below what is claimed
    assert all(s == 200 for i, s in enumerate(ops) if i != 3)
    granted = sum(1 for r in responses if r.status_code == 201)
    assert all(r.status_code in (201, 409) for r in responses)
    live = await stats(client, auth, cid)
    assert live["stock_total"] == 200 + 100 - 50 + 300 + 25
    assert live["claimed"] == granted and live["remaining"] == live["stock_total"] - granted
    assert live["remaining"] >= 0
    total = await db.fetchval("SELECT stock_total FROM campaigns WHERE id = $1", cid)
    assert total == live["stock_total"]
    changes = await db.fetchval(
        "SELECT count(*) FROM events WHERE campaign_id = $1 AND kind = 'stock_change'", cid
    )
    assert changes == 4


async def test_lowering_below_claimed_is_refused(client: Client, auth: Auth) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=5)
    for _ in range(3):
        await claim(client, auth, campaign["id"], unique())
    url = f"/v1/campaigns/{campaign['id']}/stock"
    refused = await client.post(url, json={"delta": -3}, headers=auth["admin"])
    assert refused.status_code == 409 and refused.json()["code"] == "stock_below_claimed"
    ok = await client.post(url, json={"delta": -2}, headers=auth["admin"])
    assert ok.json() == {"stock_total": 3, "remaining": 0}
    closed = await client.post(f"/v1/campaigns/{campaign['id']}/close", headers=auth["admin"])
    assert closed.status_code == 200
    after = await client.post(url, json={"delta": 5}, headers=auth["admin"])
    assert after.status_code == 409 and after.json()["code"] == "invalid_transition"


async def test_lifecycle_moves(client: Client, auth: Auth) -> None:
    draft = (await client.post("/v1/campaigns", json=campaign_body(), headers=auth["admin"])).json()
    assert draft["status"] == "draft"
    base = f"/v1/campaigns/{draft['id']}"
    for verb, expected in [
        ("pause", 409), ("resume", 409), ("publish", 200), ("publish", 409), ("resume", 409),
        ("pause", 200), ("pause", 409), ("resume", 200), ("close", 200), ("close", 409),
        ("publish", 409), ("resume", 409),
    ]:  # fmt: skip
        response = await client.post(f"{base}/{verb}", headers=auth["admin"])
        assert response.status_code == expected, (verb, response.text)
        if expected == 409:
            assert response.json()["code"] == "invalid_transition"
    missing = await client.post("/v1/campaigns/cmp_nothing/publish", headers=auth["admin"])
    assert missing.status_code == 404 and missing.json()["code"] == "campaign_not_found"


async def test_patch_validity_applies_to_later_claims(client: Client, auth: Auth) -> None:
    campaign = await live_campaign(client, auth["admin"])
    before = (await claim(client, auth, campaign["id"], unique())).json()
    starts = datetime(2026, 12, 1, tzinfo=UTC)
    patched = await client.patch(
        f"/v1/campaigns/{campaign['id']}",
        json={
            "name": "renamed",
            "validity": {
                "mode": "fixed",
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(days=10)).isoformat(),
            },
            "low_stock_threshold": 3,
        },
        headers=auth["admin"],
    )
    assert patched.status_code == 200 and patched.json()["name"] == "renamed"
    after = (await claim(client, auth, campaign["id"], unique())).json()
    assert datetime.fromisoformat(after["valid_from"]) == starts
    assert datetime.fromisoformat(before["valid_until"]) != datetime.fromisoformat(
        after["valid_until"]
    )
    bad = await client.patch(
        f"/v1/campaigns/{campaign['id']}",
        json={"claim_ends_at": "2000-01-01T00:00:00+00:00"},
        headers=auth["admin"],
    )
    assert bad.status_code == 400


async def test_grants(client: Client, auth: Auth, db: asyncpg.Pool) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=3)
    members = [unique() for _ in range(3)]
    response = await client.post(
        f"/v1/campaigns/{campaign['id']}/grants",
        json={"member_ids": [members[0], members[0], members[1], members[2], unique()],
              "channel": "store"},
        headers=auth["clerk"],
    )  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    assert [c["member_id"] for c in body["granted"]] == members
    assert all(c["channel"] == "store" for c in body["granted"])
    assert [r["reason"] for r in body["rejected"]] == ["limit_reached", "sold_out"]
    events = await db.fetchval(
        "SELECT count(*) FROM events WHERE campaign_id = $1 AND kind = 'grant'", campaign["id"]
    )
    assert events == 3
    missing = await client.post(
        "/v1/campaigns/cmp_none/grants", json={"member_ids": ["a"], "channel": "store"},
        headers=auth["clerk"],
    )  # fmt: skip
    assert missing.status_code == 404


async def test_a_grant_with_an_idempotency_key_grants_once_however_often_it_is_sent(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    """A clerk's grant retried (a lost answer, a double tap): the same key and body answer the
    first grant again, at once or later, and no member gets a second coupon even where the
    limit would allow it; another body under the key is 409. Without a key a grant is new."""
    campaign = await live_campaign(client, auth["admin"], stock=20, per_member_limit=5)
    url = f"/v1/campaigns/{campaign['id']}/grants"
    first, second, third = (unique() for _ in range(3))
    body = {"member_ids": [first, first, second, third], "channel": "store"}
    headers = {**auth["clerk"], "Idempotency-Key": unique("grant-key")}
    answers = await asyncio.gather(
        *(client.post(url, json=body, headers=headers) for _ in range(5))
    )
    assert {a.status_code for a in answers} == {200}, [a.text for a in answers]
    granted = answers[0].json()
    assert [c["member_id"] for c in granted["granted"]] == [first, first, second, third]
    assert all(a.json() == granted for a in answers)
    again = await client.post(url, json=body, headers=headers)
    assert again.status_code == 200 and again.json() == granted

    async def held() -> int:
        count: int = await db.fetchval(
            "SELECT count(*) FROM coupons WHERE campaign_id = $1", campaign["id"]
        )
        return count

    assert await held() == 4
    other = {**body, "member_ids": [first]}
    mismatch = await client.post(url, json=other, headers=headers)
    assert mismatch.status_code == 409 and mismatch.json()["code"] == "idempotency_mismatch"
    fresh = await client.post(url, json=body, headers=auth["clerk"])
    assert fresh.status_code == 200 and len(fresh.json()["granted"]) == 4
    assert {c["code"] for c in fresh.json()["granted"]}.isdisjoint(
        c["code"] for c in granted["granted"]
    )
    assert await held() == 8
    bad = await client.post(url, json=body, headers={**auth["clerk"], "Idempotency-Key": ""})
    assert bad.status_code == 400 and "Idempotency-Key" in bad.json()["detail"]


async def test_low_stock_and_sold_out_fire_once(
    client: Client, auth: Auth, db: asyncpg.Pool
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=10, low_stock_threshold=4)
    await asyncio.gather(*(claim(client, auth, campaign["id"], unique()) for _ in range(15)))
    await client.post(
        f"/v1/campaigns/{campaign['id']}/stock", json={"delta": 2}, headers=auth["admin"]
    )
    await asyncio.gather(*(claim(client, auth, campaign["id"], unique()) for _ in range(5)))
    for _ in range(50):  # the event rows are written in the background
        kinds = await db.fetch(
            "SELECT kind FROM events WHERE campaign_id = $1 AND kind IN ('low_stock', 'sold_out')",
            campaign["id"],
        )
        if len(kinds) == 2:
            break
        await asyncio.sleep(0.05)
    assert sorted(k["kind"] for k in kinds) == ["low_stock", "sold_out"]
    text = (await client.get("/metrics")).text
    for kind in ("low_stock", "sold_out"):
        line = f'gateway_campaign_alerts_total{{campaign="{campaign["id"]}",kind="{kind}"}} 1'
        assert line in text


async def test_coupon_and_wallet_reads(client: Client, auth: Auth) -> None:
    campaign = await live_campaign(client, auth["admin"], per_member_limit=2)
    member = unique()
    codes = [(await claim(client, auth, campaign["id"], member)).json()["code"] for _ in range(2)]
    got = await client.get(f"/v1/coupons/{codes[0].lower()}", headers=auth["checkout"])
    assert got.status_code == 200 and got.json()["code"] == codes[0]
    typo = codes[0][:-1] + ("0" if codes[0][-1] != "0" else "1")
    for bad in (typo, "nonsense", "x" * 300, "优惠券"):
        missing = await client.get(f"/v1/coupons/{bad}", headers=auth["front"])
        assert missing.status_code == 404 and missing.json()["code"] == "coupon_not_found"
    wallet = await client.get(f"/v1/members/{member}/coupons?state=active", headers=auth["front"])
    assert sorted(c["code"] for c in wallet.json()["coupons"]) == sorted(codes)
    none = await client.get(f"/v1/members/{member}/coupons?state=redeemed", headers=auth["front"])
    assert none.json() == {"coupons": []}
    bad_state = await client.get(f"/v1/members/{member}/coupons?state=lost", headers=auth["front"])
    assert bad_state.status_code == 400 and "state" in bad_state.json()["detail"]


async def test_campaign_list_is_newest_first_with_stats(client: Client, auth: Auth) -> None:
    first = await live_campaign(client, auth["admin"])
    second = await live_campaign(client, auth["admin"])
    listed = (await client.get("/v1/campaigns", headers=auth["admin"])).json()["campaigns"]
    ids = [c["id"] for c in listed]
    assert ids.index(second["id"]) < ids.index(first["id"])
    assert set(listed[0]["stats"]) == {
        "stock_total", "remaining", "claimed", "redeemed", "claim_rate", "redemption_rate",
        "conversion_rate", "transferred", "exchanged",
    }  # fmt: skip


async def test_a_hot_state_from_another_redis_run_is_rebuilt_before_any_claim(
    client: Client, auth: Auth, redis_client: Any, db: asyncpg.Pool
) -> None:
    campaign = await live_campaign(client, auth["admin"], stock=10)
    cid = campaign["id"]
    for _ in range(3):
        assert (await claim(client, auth, cid, unique())).status_code == 201
    # What an AOF that lost its last second looks like after a restart: counters behind the
    # ledger, written by another server run.
    meta = f"{{c:{cid}}}:meta"
    await redis_client.hset(meta, mapping={"run_id": "an-earlier-run", "remaining": 10})
    await redis_client.delete(f"{{c:{cid}}}:members")
    refused = await claim(client, auth, cid, unique())
    assert refused.status_code == 503 and refused.json()["code"] == "unavailable"
    stock = await client.post(
        f"/v1/campaigns/{cid}/stock", json={"delta": 1}, headers=auth["admin"]
    )
    assert stock.status_code in (200, 503)
    for _ in range(100):  # the refused claim started the rebuild in the background
        answer = await claim(client, auth, cid, unique())
        if answer.status_code == 201:
            break
        await asyncio.sleep(0.05)
    assert answer.status_code == 201
    run_id = await run_id_of(redis_client, meta)
    assert (await redis_client.hget(meta, "run_id")).decode() == run_id
    rows = await db.fetchval("SELECT count(*) FROM coupons WHERE campaign_id = $1", cid)
    live = await stats(client, auth, cid)
    assert live["claimed"] == rows == 4


async def test_claims_go_on_after_redis_forgets_the_script(
    client: Client, auth: Auth, redis_client: Any
) -> None:
    # SCRIPT FLUSH (or a Redis failover) drops the loaded script: the pipeline answers NOSCRIPT
    # by loading it again and running the same call, so nobody sees the difference.
    campaign = await live_campaign(client, auth["admin"], stock=10)
    await redis_client.script_flush()
    responses = await asyncio.gather(
        *(claim(client, auth, campaign["id"], unique()) for _ in range(5))
    )
    assert [r.status_code for r in responses] == [201] * 5
    assert (await stats(client, auth, campaign["id"]))["claimed"] == 5


async def test_metrics_count_the_pipeline_round_trips_and_ledger_rows(
    client: Client, auth: Auth
) -> None:
    def counters(text: str) -> dict[str, int]:
        return {
            name: int(value)
            for name, value in (line.split() for line in text.splitlines() if line[:1] != "#")
            if name.startswith(("gateway_claim_", "gateway_ledger_"))
        }

    # The app's scheduled work (rewards, grant jobs) uses the same pipeline: a measurement
    # it ran beside is taken again, at most three times.
    for _attempt in range(3):
        before = counters((await client.get("/metrics")).text)
        campaign = await live_campaign(client, auth["admin"], stock=10)
        responses = await asyncio.gather(
            *(claim(client, auth, campaign["id"], unique()) for _ in range(7))
        )
        assert all(r.status_code == 201 for r in responses)
        after = counters((await client.get("/metrics")).text)
        jobs = after["gateway_claim_jobs_total"] - before["gateway_claim_jobs_total"]
        assert jobs >= 7
        if jobs == 7:
            break
    assert jobs == 7
    # At most one round trip per claim, plus as many that carry only the XDELs of committed
    # entries (they wait 50 ms for a claim to ride along with: on a loaded machine none comes).
    assert (
        1
        <= after["gateway_claim_round_trips_total"] - before["gateway_claim_round_trips_total"]
        <= 2 * 7
    )
    # Recovery may drain entries other tests left while these claims run: it counts apart.
    recovered = (
        after["gateway_ledger_recovered_rows_total"] - before["gateway_ledger_recovered_rows_total"]
    )
    assert after["gateway_ledger_rows_total"] - before["gateway_ledger_rows_total"] - recovered == 7


async def test_the_claim_lane_answers_exactly_as_the_router_does(
    client: Client, auth: Auth
) -> None:
    # Claims are served before Litestar's router (gateway.ops.lanes). The same requests
    # through the router must get the same statuses and error codes.
    campaign = await live_campaign(client, auth["admin"], stock=100, per_member_limit=1)
    path = f"/v1/campaigns/{campaign['id']}/claims"
    front, checkout = auth["front"], auth["checkout"]
    json_type = {"Content-Type": "application/json"}

    async def answers(lane: bool) -> list[tuple[int, str]]:
        app: Any = client.app
        hot_lanes(app).enabled = lane
        member = unique()
        requests: list[tuple[str, dict[str, str], bytes]] = [
            (path, front, f'{{"member_id":"{member}","channel":"online"}}'.encode()),
            (path, front, f'{{"member_id":"{member}","channel":"online"}}'.encode()),
            (path, {}, b'{"member_id":"x","channel":"online"}'),
            (path, {"Authorization": "Bearer nope"}, b'{"member_id":"x","channel":"online"}'),
            (path, checkout, b'{"member_id":"x","channel":"online"}'),
            (path, front, b'{"member_id":'),
            (path, front, b'{"member_id":"x","channel":"online","extra":1}'),
            (path, front, b'{"member_id":5,"channel":"online"}'),
            (path, front, b'{"member_id":"x","channel":"online","token":"bad"}'),
            (path, front, b"x" * (1024 * 1024 + 1)),
            ("/v1/campaigns/cmp_nope/claims", front, b'{"member_id":"x","channel":"online"}'),
            (f"/v1/campaigns/{'x' * 65}/claims", front, b'{"member_id":"x","channel":"online"}'),
        ]
        out = []
        for url, headers, body in requests:
            response = await client.post(url, content=body, headers={**json_type, **headers})
            ok = response.status_code == 201
            out.append((response.status_code, "coupon" if ok else response.json()["code"]))
        return out

    try:
        via_lane = await answers(True)
        via_router = await answers(False)
    finally:
        app: Any = client.app
        hot_lanes(app).enabled = True
    assert via_lane == via_router
    assert via_lane[:2] == [(201, "coupon"), (409, "limit_reached")]
    assert [status for status, _ in via_lane[2:]] == [
        401,
        401,
        403,
        400,
        400,
        400,
        403,
        413,
        404,
        404,
    ]
