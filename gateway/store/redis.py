"""Redis: the client (one node, or a Redis Cluster), the Lua scripts (one file each under `lua/`)
and the key names.

All keys of a campaign bucket share the hash tag `{c:<slot name>}`, so every script touches one
Cluster slot. A campaign of K buckets (`buckets.py`) has K slot names, `bucket_id(campaign, b)`:
the campaign id for bucket 0 (today's keys), `<campaign id>:<b>` for the others. The key-name
functions are defined once, in Rust (`native/src/claimpipe/keys.rs`), and re-exported here.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from collections import defaultdict
from typing import Any, cast

import redis.asyncio as redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import AskError, MovedError, NoScriptError, ResponseError, TryAgainError

from gateway import native
from gateway.settings import get_settings

#: The bucket (0..K-1) a member claims in: FNV-1a 64 of the member id, modulo K.
bucket_of = native.bucket_of
#: Bucket b's slot name: the campaign id for b == 0, `<campaign id>:<b>` otherwise.
bucket_id = native.bucket_id
meta_key = native.meta_key
members_key = native.members_key
ledger_key = native.ledger_key
#: Hash: refusal reason -> count; `claim_coupons.lua` names it from the meta key.
refusals_key = native.refusals_key
idem_key = native.idem_key


def moves_key(slot: str) -> str:
    """Hash: move id -> `n|target slot|epoch`, the stock moves taken from this bucket and not
    yet known to be given (`buckets.py`)."""
    return f"{{c:{slot}}}:moves"


def applied_key(slot: str) -> str:
    """Set: the ids of the moves given to this bucket (a move is given at most once)."""
    return f"{{c:{slot}}}:applied"


def staged_members_key(slot: str, lease: str) -> str:
    """The members hash a rebuild stages from the ledger under its lease."""
    return f"{members_key(slot)}:{lease}"


def campaign_of_slot(slot: str) -> str:
    """The campaign a slot name belongs to (campaign ids never hold ':')."""
    return slot.partition(":")[0]


#: Sorted set: slot name -> when a claim round trip last touched its stream (ms, Redis clock).
#: Ledger recovery visits only these slots (`ledger.py`); `move:<slot>` members mark a bucket
#: with a stock move on its way (`buckets.py`). Not hash-tagged: only `forget_active.lua`
#: touches it, alone, so it may live on any Cluster node.
LEDGER_ACTIVE_KEY = "gateway:ledger:active"


class LuaScript:
    """A Lua file of `store/lua`, run by EVALSHA and loaded again on NOSCRIPT.

    Unlike redis-py's `Script` inside a pipeline, this never spends a round trip on
    SCRIPT EXISTS: pipelines send EVALSHA blind and retry the few that come back NOSCRIPT.
    On a cluster, EVALSHA goes to the node owning its first key, and SCRIPT LOAD to every
    primary (so a replica promoted after a failover, which has no scripts, gets it too).
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
        self.move_take = LuaScript("move_take")
        self.move_give = LuaScript("move_give")
        self.move_done = LuaScript("move_done")

    async def load_all(self, client: redis.Redis) -> None:
        for script in (
            self.claim_coupons,
            self.change_stock,
            self.begin_rebuild,
            self.finish_rebuild,
            self.move_take,
            self.move_give,
            self.move_done,
        ):
            await script.load(client)


def is_cluster(client: Any) -> bool:
    return isinstance(client, RedisCluster)


async def node_of(client: redis.Redis, key: str) -> ClusterNode:
    """The Cluster node owning `key` (the client must be a cluster client)."""
    cluster = cast(RedisCluster, client)
    await cluster.initialize()  # fills the slot table on first use; a no-op after
    node = cluster.get_node_from_key(key)
    assert node is not None
    return node


def _command_key(command: tuple[Any, ...]) -> str | None:
    """The key a command routes by (None: any node will do, like TIME)."""
    name = str(command[0]).upper()
    if name in ("EVALSHA", "EVAL"):
        return str(command[3]) if int(command[2]) > 0 else None
    if name in ("TIME", "PING"):
        return None
    key = command[1]
    return key.decode() if isinstance(key, bytes) else str(key)


async def _send(conn: Any, commands: list[tuple[Any, ...]]) -> list[Any]:
    await conn.send_packed_command(conn.pack_commands(commands), check_health=False)
    replies: list[Any] = []
    for _ in commands:
        try:
            replies.append(await conn.read_response())
        except ResponseError as exc:
            replies.append(exc)
    return replies


async def pipelined(client: redis.Redis, commands: list[tuple[Any, ...]]) -> list[Any]:
    """Sends `commands` in one write on one pooled connection and reads every reply.

    The hot path's own pipeline: redis-py's Pipeline object costs more Python per command than
    the claim itself. A reply that is an error comes back as its exception, in its place.
    On a cluster the commands are grouped by the node owning their key, one write per node,
    and a command answered MOVED or ASK (a reshard under way) is sent again through the
    cluster client, which follows the redirection and refreshes its slot table.
    """
    if is_cluster(client):
        return await _pipelined_cluster(cast(RedisCluster, client), commands)
    pool = client.connection_pool
    conn = await pool.get_connection()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
    try:
        return await _send(conn, commands)
    except BaseException:
        await conn.disconnect()
        raise
    finally:
        await pool.release(conn)


async def _pipelined_cluster(client: RedisCluster, commands: list[tuple[Any, ...]]) -> list[Any]:
    if client._initialize:  # True until the slot table is filled (on first use)
        await client.initialize()
    groups: defaultdict[str, list[int]] = defaultdict(list)
    nodes: dict[str, ClusterNode] = {}
    for i, command in enumerate(commands):
        key = _command_key(command)
        node = client.get_node_from_key(key) if key is not None else client.get_default_node()
        assert node is not None
        nodes[node.name] = node
        groups[node.name].append(i)
    replies: list[Any] = [None] * len(commands)
    for name, places in groups.items():
        node = nodes[name]
        conn = node.acquire_connection()
        try:
            got = await _send(conn, [commands[i] for i in places])
        except BaseException:
            await conn.disconnect()
            raise
        finally:
            node.release(conn)
        for i, reply in zip(places, got, strict=True):
            if isinstance(reply, (MovedError, AskError, TryAgainError)):
                try:
                    reply = await client.execute_command(*commands[i])
                except ResponseError as exc:
                    reply = exc
            replies[i] = reply
    return replies


async def redis_now_ms(client: redis.Redis) -> int:
    """Redis's clock (any node of a cluster: their clocks are the machines')."""
    seconds, micros = await client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def create_client(url: str, cluster: bool | None = None) -> redis.Redis:
    """A client of the Redis at `url` (`rediss://`: TLS), or of the Redis Cluster one of whose
    nodes `url` names when `cluster` (default: `GATEWAY_REDIS_CLUSTER`)."""
    if cluster is None:
        cluster = get_settings().redis_cluster
    if cluster:
        # The cluster client keeps a pool per node, with its own MOVED/ASK and failover handling.
        # Its pools never wait for a free connection (a full one raises MaxConnectionsError):
        # room for every concurrent command a worker makes under a spike (a grant job's batch,
        # a storm's refills), which Redis's maxclients (10,000) bounds far above.
        return cast(redis.Redis, RedisCluster.from_url(url, max_connections=1024))
    # A blocking pool: under a spike a command waits (up to 5 s) for a free connection instead of
    # failing with MaxConnectionsError halfway through a claim.
    pool = redis.BlockingConnectionPool.from_url(url, max_connections=64, timeout=5)
    return redis.Redis.from_pool(pool)  # the client owns the pool: aclose() closes it too
