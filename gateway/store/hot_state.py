"""A campaign's hot state: the fields of its meta hash that the claim script reads.

Built from the campaign's Postgres row when it is published and when its counters are rebuilt
from the ledger (`reconcile.py`); the key names are in `redis.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import redis.asyncio as redis

from gateway.wire import to_ms


def hot_state(row: asyncpg.Record, claimed: int, run_id: str = "") -> dict[str, Any]:
    """The fields the claim script reads, as stored in `{c:<id>}:meta`.

    `run_id` is the Redis server's run id when the state was built from Postgres: after a Redis
    restart the AOF may have lost its last second, so the scripts refuse a state whose run id
    is not the running server's until it has been rebuilt (`reconcile_campaign`)."""
    validity = row["validity"]
    fixed = validity["mode"] == "fixed"
    return {
        "status": row["status"],
        "starts": to_ms(row["claim_starts_at"]),
        "ends": to_ms(row["claim_ends_at"]),
        "limit": row["per_member_limit"],
        "stock_total": row["stock_total"],
        "remaining": row["stock_total"] - claimed,
        "vmode": validity["mode"],
        "vdays": 0 if fixed else validity["days"],
        "vfrom": _iso_ms(validity["starts_at"]) if fixed else 0,
        "vuntil": _iso_ms(validity["ends_at"]) if fixed else 0,
        "low": row["low_stock_threshold"],
        "kind": row["kind"],
        "transferable": int(row["transferable"]),
        "link_only": int(row["link_only"]),
        "points_price": row["points_price"] or 0,
        "run_id": run_id,
    }


async def redis_run_id(client: redis.Redis) -> str:
    info = await client.info("server")
    return str(info["run_id"])


def _iso_ms(text: str) -> int:
    return to_ms(datetime.fromisoformat(text))
