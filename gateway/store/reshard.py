"""Moving a hash slot to another master of a Redis Cluster without a rebuild (`gateway move-slot`).

A bucket's hot state carries the run id of the node it was built on, and the scripts refuse a
state built elsewhere (`stale_hot_state`, then a rebuild from Postgres: seconds of 503 for that
campaign), because after a failover or a restart the node may lack the last second of writes.
A slot moved by MIGRATE loses nothing, so before moving it `move_slot` lists the target's run id
in the `run_id` of every meta hash of the slot (comma-separated; the scripts accept a state
whose list holds their node's run id): the moved state takes claims on the target at once. A
failover still forces the rebuild (the promoted replica's run id is in no list), and so does a
slot moved by other tools (`redis-cli --cluster reshard`).

The move itself is the one Redis documents: SETSLOT IMPORTING on the target, MIGRATING on the
source, MIGRATE of the slot's keys in small batches (claims go on meanwhile: the source answers
ASK for a key already moved, and the claim pipeline follows it), then SETSLOT NODE on the target,
the source and every other master.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from gateway.store.redis import LuaScript

#: Keys a MIGRATE moves at once (idempotency records are small): the source blocks for
#: milliseconds.
BATCH = 500
MIGRATE_TIMEOUT_MS = 5000

_add_run_id = LuaScript("add_run_id")


@dataclass(frozen=True)
class Master:
    node_id: str
    host: str
    port: int
    slots: tuple[tuple[int, int], ...]

    def serves(self, slot: int) -> bool:
        return any(start <= slot <= end for start, end in self.slots)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_masters(nodes: str) -> dict[str, Master]:
    """Node id -> master, from a CLUSTER NODES reply (failed masters left out)."""
    out: dict[str, Master] = {}
    for line in nodes.splitlines():
        fields = line.split()
        if len(fields) < 8:
            continue
        flags = fields[2].split(",")
        if "master" not in flags or "fail" in flags or "noaddr" in flags:
            continue
        host, port = fields[1].split("@")[0].rsplit(":", 1)
        slots: list[tuple[int, int]] = []
        for part in fields[8:]:
            if part.startswith("["):  # a slot being imported or migrated: [slot->-node]
                continue
            start, _, end = part.partition("-")
            slots.append((int(start), int(end or start)))
        out[fields[0]] = Master(fields[0], host, int(port), tuple(slots))
    return out


async def _on(client: Any, master: Master, *args: Any) -> Any:
    node = client.get_node(host=master.host, port=master.port)
    if node is None:
        raise RuntimeError(f"the client does not know the node {master.host}:{master.port}")
    return await client.execute_command(*args, target_nodes=node)


async def masters(client: redis.Redis) -> dict[str, Master]:
    """The masters of the cluster `client` (a cluster client) is connected to."""
    c: Any = client
    await c.initialize()
    failure: Exception | None = None
    for node in c.get_nodes():  # the first that answers (one may be down: a failover)
        try:
            return parse_masters(
                _text(await c.execute_command("CLUSTER", "NODES", target_nodes=node))
            )
        except (ConnectionError, RedisError) as exc:
            failure = exc
    raise RuntimeError(f"no node of the cluster answers CLUSTER NODES: {failure}")


async def move_slot(client: redis.Redis, slot: int, target_node_id: str) -> int:
    """Moves `slot` to the master `target_node_id`; returns how many keys moved (0 when the
    target serves it already). `client` is a cluster client (`create_client(..., cluster=True)`).
    """
    if not 0 <= slot < 16384:
        raise ValueError(f"slot {slot} is not in 0..16383")
    c: Any = client
    nodes = await masters(client)
    if target_node_id not in nodes:
        raise ValueError(f"{target_node_id} is not a master of this cluster")
    target = nodes[target_node_id]
    source = next((m for m in nodes.values() if m.serves(slot)), None)
    if source is None:
        raise ValueError(f"no master serves slot {slot}")
    if source.node_id == target.node_id:
        return 0
    info = await _on(client, target, "INFO", "server")
    if isinstance(info, bytes):
        info = dict(line.split(":", 1) for line in info.decode().splitlines() if ":" in line)
    run_id = _text(info["run_id"]).strip()
    # First the run ids, while every key is still on the source (each script names its key:
    # the cluster client sends it to the source).
    cursor_keys = await _keys_in_slot(client, source, slot, 1 << 30)
    for key in cursor_keys:
        if key.endswith(":meta") and key.startswith("{c:"):
            await _add_run_id(client, [key], [run_id])
    await _on(client, target, "CLUSTER", "SETSLOT", slot, "IMPORTING", source.node_id)
    await _on(client, source, "CLUSTER", "SETSLOT", slot, "MIGRATING", target.node_id)
    # Every key of the slot at once would block the source; one at a time would stretch the
    # window in which claims that carry a new Idempotency-Key meet TRYAGAIN (Redis answers it to
    # a script some of whose keys exist on one side only, until SETSLOT NODE). The hot state
    # (meta, members, ledger, ...) goes last, in one batch, after the idempotency records.
    moved = 0
    password = c.get_connection_kwargs().get("password")
    username = c.get_connection_kwargs().get("username")
    auth: list[Any] = []
    if password:
        auth = ["AUTH2", username or "default", password]
    while batch := await _next_batch(client, source, slot):
        await _on(
            client,
            source,
            "MIGRATE",
            target.host,
            target.port,
            "",
            0,
            MIGRATE_TIMEOUT_MS,
            *auth,
            "KEYS",
            *batch,
        )
        moved += len(batch)
    # The target first (it serves the slot from now on), then the source (it stops answering
    # ASK and answers MOVED), then the others (so that they redirect to the target).
    order = [target, source, *(m for m in nodes.values() if m not in (target, source))]
    for master in order:
        await _on(client, master, "CLUSTER", "SETSLOT", slot, "NODE", target.node_id)
    return moved


async def _keys_in_slot(client: redis.Redis, source: Master, slot: int, count: int) -> list[str]:
    keys = await _on(client, source, "CLUSTER", "GETKEYSINSLOT", slot, count)
    return [_text(k) for k in keys]


async def _next_batch(client: redis.Redis, source: Master, slot: int) -> list[str]:
    """Up to BATCH keys of the slot still on the source: idempotency records (and any key
    that is not a campaign's hot state) first; the hot state once they are gone."""
    keys = await _keys_in_slot(client, source, slot, 1 << 30)
    records = [k for k in keys if ":idem:" in k or not k.startswith("{c:")]
    return records[:BATCH] if records else keys
