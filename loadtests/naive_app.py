"""Baseline (c) of the claim benchmark: what a team might write by hand.

Per claim, one Postgres transaction: `UPDATE ... SET remaining = remaining - 1 WHERE
remaining > 0` and an INSERT of the coupon. Correct, and as fast as Postgres row locks allow.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from litestar import Litestar, Request, Response, post

from gateway.claims.schemas import ClaimRequest
from gateway.wire import decode

SCHEMA = """
CREATE TABLE IF NOT EXISTS naive_stock (campaign_id text PRIMARY KEY, remaining bigint NOT NULL);
CREATE TABLE IF NOT EXISTS naive_coupons (
    code text PRIMARY KEY, campaign_id text NOT NULL, member_id text NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now()
);
"""
TAKE = "UPDATE naive_stock SET remaining = remaining - 1 WHERE campaign_id = $1 AND remaining > 0"
INSERT = "INSERT INTO naive_coupons (code, campaign_id, member_id) VALUES ($1, $2, $3)"


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    pool = await asyncpg.create_pool(os.environ["GATEWAY_DATABASE_URL"], min_size=4, max_size=20)
    assert pool is not None
    await pool.execute(SCHEMA)
    app.state.pool = pool
    try:
        yield
    finally:
        await pool.close()


@post("/v1/campaigns/{campaign_id:str}/claims", status_code=201)
async def claim(request: Request, campaign_id: str) -> Response[bytes]:  # type: ignore[type-arg]
    data = decode(await request.body(), ClaimRequest)
    code = secrets.token_hex(8).upper()
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        if await conn.execute(TAKE, campaign_id) == "UPDATE 0":
            return Response(b'{"code":"sold_out"}', status_code=409, media_type="application/json")
        await conn.execute(INSERT, code, campaign_id, data.member_id)
    return Response(
        b'{"code":"' + code.encode() + b'"}', status_code=201, media_type="application/json"
    )


app = Litestar(route_handlers=[claim], lifespan=[lifespan], debug=False)
