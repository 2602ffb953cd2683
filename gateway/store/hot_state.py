"""A campaign's hot state: the fields of its meta hash that the claim script reads.

Built from the campaign's Postgres row when it is published and when its counters are rebuilt
from the ledger (`reconcile.py`); the key names are in `redis.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import redis.asyncio as redis

from gateway.store.redis import is_cluster, node_of
from gateway.wire import to_ms


def hot_state(
    row: asyncpg.Record,
    claimed: int,
    run_id: str = "",
    *,
    bucket: int = 0,
    remaining: int | None = None,
    epoch: str = "",
) -> dict[str, Any]:
    """The fields the claim script reads, as stored in `{c:<slot>}:meta` of one bucket.

    `run_id` is the run id of the Redis node holding the bucket when the state was built from
    Postgres: after a Redis restart (or a failover) the AOF may have lost its last second, so
    the scripts refuse a state whose run id is not the running server's until it has been
    rebuilt (`reconcile.py`). A campaign of K buckets (`row["buckets"]`) has K such hashes:
    each keeps its own share of the stock (`remaining`: default stock_total - claimed, the
    whole for K = 1), and only bucket 0 keeps `stock_total`. `epoch` names the build (a
    rebuild gives a new one, which voids stock moves taken before it: `buckets.py`)."""
    validity = row["validity"]
    fixed = validity["mode"] == "fixed"
    buckets = _buckets(row)
    state: dict[str, Any] = {
        "status": row["status"],
        "starts": to_ms(row["claim_starts_at"]),
        "ends": to_ms(row["claim_ends_at"]),
        "limit": row["per_member_limit"],
        "stock_total": row["stock_total"],
        "remaining": row["stock_total"] - claimed if remaining is None else remaining,
        "vmode": validity["mode"],
        "vdays": 0 if fixed else validity["days"],
        "vfrom": _iso_ms(validity["starts_at"]) if fixed else 0,
        "vuntil": _iso_ms(validity["ends_at"]) if fixed else 0,
        "low": row["low_stock_threshold"],
        "kind": row["kind"],
        "transferable": int(row["transferable"]),
        "link_only": int(row["link_only"]),
        "points_price": row["points_price"] or 0,
        "buckets": buckets,
        "epoch": epoch,
        "run_id": run_id,
    }
    if bucket != 0:
        del state["stock_total"]
    return state


def _buckets(row: asyncpg.Record) -> int:
    try:
        return int(row["buckets"] or 1)
    except KeyError:  # a row selected without the column
        return 1


async def redis_run_id(client: redis.Redis, key: str | None = None) -> str:
    """The run id of the Redis server; on a cluster, of the node owning `key` (each node has
    its own, and the scripts compare a bucket's state with its own node's)."""
    if is_cluster(client):
        assert key is not None, "a cluster has one run id per node: name the key"
        node = await node_of(client, key)
        info: Any = await client.info("server", target_nodes=node)
    else:
        info = await client.info("server")
    if isinstance(info, dict) and "run_id" not in info and len(info) == 1:
        info = next(iter(info.values()))  # the cluster client's {node: reply}
    return str(info["run_id"])


def _iso_ms(text: str) -> int:
    return to_ms(datetime.fromisoformat(text))
