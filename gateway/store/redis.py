"""Redis: the client, the Lua scripts (one file each under `lua/`) and the key names.

All keys of a campaign share the hash tag `{c:<id>}`, so every script touches one Cluster slot.
The key names are defined here and, for the claim pipeline, once in Rust
(`native/src/claimpipe/mod.rs`, the functions of the same names).
"""

from __future__ import annotations

import hashlib
import importlib.resources
from typing import Any

import redis.asyncio as redis
from redis.exceptions import NoScriptError, ResponseError


def meta_key(campaign_id: str) -> str:
    return f"{{c:{campaign_id}}}:meta"


def members_key(campaign_id: str) -> str:
    return f"{{c:{campaign_id}}}:members"


def ledger_key(campaign_id: str) -> str:
    return f"{{c:{campaign_id}}}:ledger"


def refusals_key(campaign_id: str) -> str:
    """Hash: refusal reason -> count; `claim_coupons.lua` names it from the meta key."""
    return f"{{c:{campaign_id}}}:refusals"


def idem_key(campaign_id: str, key: str) -> str:
    return f"{{c:{campaign_id}}}:idem:{key}"


def staged_members_key(campaign_id: str, lease: str) -> str:
    """The members hash a rebuild stages from the ledger under its lease."""
    return f"{members_key(campaign_id)}:{lease}"


#: Sorted set: campaign id -> when a claim round trip last touched its stream (ms, Redis
#: clock). Ledger recovery visits only these campaigns (`ledger.py`). Not hash-tagged: no
#: script touches it, so it may live on any Cluster node.
LEDGER_ACTIVE_KEY = "gateway:ledger:active"


class LuaScript:
    """A Lua file of `store/lua`, run by EVALSHA and loaded again on NOSCRIPT.

    Unlike redis-py's `Script` inside a pipeline, this never spends a round trip on
    SCRIPT EXISTS: pipelines send EVALSHA blind and retry the few that come back NOSCRIPT.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.source = (
            importlib.resources.files("gateway.store") / "lua" / f"{name}.lua"
        ).read_text(encoding="utf-8")
        self.sha = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()

    def args(self, keys: list[str], argv: list[Any]) -> tuple[Any, ...]:
        return ("EVALSHA", self.sha, len(keys), *keys, *argv)

    async def run_args(self, client: redis.Redis, args: tuple[Any, ...]) -> Any:
        """Runs prepared `args()` once more (after a NOSCRIPT reload)."""
        return await client.execute_command(*args)  # type: ignore[no-untyped-call]  # untyped in redis-py

    async def load(self, client: redis.Redis) -> None:
        await client.script_load(self.source)

    async def __call__(self, client: redis.Redis, keys: list[str], argv: list[Any]) -> Any:
        try:
            return await client.execute_command(*self.args(keys, argv))  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
        except NoScriptError:
            await self.load(client)
            return await client.execute_command(*self.args(keys, argv))  # type: ignore[no-untyped-call]  # same


class Scripts:
    """Every script the gateway runs, bound to typed attributes."""

    def __init__(self) -> None:
        self.claim_coupons = LuaScript("claim_coupons")
        self.change_stock = LuaScript("change_stock")
        self.begin_rebuild = LuaScript("begin_rebuild")
        self.finish_rebuild = LuaScript("finish_rebuild")

    async def load_all(self, client: redis.Redis) -> None:
        for script in (
            self.claim_coupons,
            self.change_stock,
            self.begin_rebuild,
            self.finish_rebuild,
        ):
            await script.load(client)


async def pipelined(client: redis.Redis, commands: list[tuple[Any, ...]]) -> list[Any]:
    """Sends `commands` in one write on one pooled connection and reads every reply.

    The hot path's own pipeline: redis-py's Pipeline object costs more Python per command than
    the claim itself. A reply that is an error comes back as its exception, in its place.
    """
    pool = client.connection_pool
    conn = await pool.get_connection()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
    try:
        await conn.send_packed_command(conn.pack_commands(commands), check_health=False)
        replies: list[Any] = []
        for _ in commands:
            try:
                replies.append(await conn.read_response())
            except ResponseError as exc:
                replies.append(exc)
        return replies
    except BaseException:
        await conn.disconnect()
        raise
    finally:
        await pool.release(conn)


def create_client(url: str) -> redis.Redis:
    # A blocking pool: under a spike a command waits (up to 5 s) for a free connection instead of
    # failing with MaxConnectionsError halfway through a claim.
    pool = redis.BlockingConnectionPool.from_url(url, max_connections=64, timeout=5)
    return redis.Redis.from_pool(pool)  # the client owns the pool: aclose() closes it too
