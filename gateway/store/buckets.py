"""Hot-stock buckets: a campaign's stock split over K slots of the Redis Cluster, and the
rebalancer that moves stock to a bucket that ran dry.

A campaign of `buckets` = K > 1 keeps K hot states, one per slot name `bucket_id(campaign, b)`,
each with its own `remaining` and member counts; a member always claims in bucket
`bucket_of(member, K)`, so the per-member limit stays exact in one slot. The campaign's
remaining is the sum of its buckets' plus the units of the moves in flight.

When a bucket is empty its claims are refused `bucket_dry` (`claim_coupons.lua`) and the claim
service calls `refill`, which moves half of the fullest bucket's stock in. A move spans two
slots, so it is two-phase and logged, safe under a crash at any point:

1. `move_take.lua` on the source: takes n units out of its `remaining` and logs the move
   `{id: n|target|epoch}` in the source's `:moves` hash, in one script (one slot);
2. `move_give.lua` on the target: adds the n units unless the move id is already in the target's
   `:applied` set (so a repeat gives nothing), and records it there;
3. `move_done.lua` on the source: forgets the move.

Before the take the source is marked `move:<slot>` in the ledger's active set, so the recovery
loop (`ledger.py`) finishes a move a crash left between 1 and 3; an idle tick costs nothing more.
A rebuild from the ledger (`reconcile.py`) gives the campaign a new `epoch` and drops every
move log: a move taken before it is void (its units are counted again from Postgres), which
`move_give.lua` sees by the epoch.

While a move is in flight its units are in no bucket: a claim may be answered `sold_out` while
up to (units in flight) remain, at most the moves of the refills running at that moment (one
per dry bucket and gateway process, K - 1 at most per process), each half a bucket.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from gateway.errors import StockBelowClaimed, Unavailable
from gateway.store import redis as keys
from gateway.store.redis import Scripts

log = logging.getLogger(__name__)

#: How many moves one refill tries before it gives up (each lost to a racing claim or move).
_ATTEMPTS = 4
#: Member prefix of a bucket with a move on its way, in the ledger's active set.
MOVE_MARK = "move:"

# The refills running in this process, per (client, campaign, bucket): a dry bucket's claims
# wait for one move instead of each taking half of another bucket.
_running: dict[tuple[int, str, int], asyncio.Future[bool]] = {}


def slots(campaign_id: str, buckets: int) -> list[str]:
    """The slot names of the campaign's buckets, bucket 0 first."""
    return [keys.bucket_id(campaign_id, b) for b in range(max(buckets, 1))]


def split(total: int, buckets: int) -> list[int]:
    """`total` spread evenly over `buckets` (the first ones get the odd units)."""
    share, odd = divmod(max(total, 0), max(buckets, 1))
    return [share + (1 if b < odd else 0) for b in range(max(buckets, 1))]


@dataclass(slots=True)
class Levels:
    """What a campaign's buckets hold, read in one round trip."""

    #: Bucket 0's status and stock_total (None: no hot state).
    status: str | None
    stock_total: int | None
    #: Each bucket's remaining (0 where it has no hot state).
    remaining: list[int]
    #: Each bucket's units taken by a move not yet done (as the source).
    in_flight: list[int]
    #: Redis's clock when read (ms).
    now_ms: int

    @property
    def total_remaining(self) -> int:
        return sum(self.remaining) + sum(self.in_flight)


def _moves_of(reply: Any) -> list[tuple[str, int, str]]:
    """(move id, units, target slot) of the moves in a `:moves` hash's HGETALL reply (a flat
    list on the raw connection, a dict through redis-py's callbacks)."""
    if isinstance(reply, Exception):
        raise reply
    pairs = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2], strict=True)
    moves = []
    for move_id, value in pairs:
        n, target, _epoch = bytes(value).decode().split("|", 2)
        moves.append((bytes(move_id).decode(), int(n), target))
    return moves


async def _in_flight(client: redis.Redis, logged: list[list[tuple[str, int, str]]]) -> list[int]:
    """Per source bucket, the units of its logged moves not given yet. A move already given but
    not yet forgotten (between move_give and move_done) is in its target's remaining: counting
    it again would show more stock than there is. One more round trip, only while moves are
    logged."""
    checks = [
        (b, n, target, move_id) for b, moves in enumerate(logged) for move_id, n, target in moves
    ]
    units = [0] * len(logged)
    if not checks:
        return units
    replies = await keys.pipelined(
        client, [("SISMEMBER", keys.applied_key(t), move_id) for _b, _n, t, move_id in checks]
    )
    for (b, n, _target, _id), given in zip(checks, replies, strict=True):
        if isinstance(given, Exception):
            raise given
        if not int(given):
            units[b] += n
    return units


async def levels(client: redis.Redis, campaign_id: str, buckets: int) -> Levels:
    """Every bucket's remaining and moves in flight, bucket 0's status and stock_total, and the
    time, in one pipelined round trip (one write per node on a cluster)."""
    names = slots(campaign_id, buckets)
    commands: list[tuple[Any, ...]] = [("TIME",)]
    commands.append(("HMGET", keys.meta_key(names[0]), "status", "stock_total"))
    for slot in names:
        commands.append(("HGET", keys.meta_key(slot), "remaining"))
        commands.append(("HGETALL", keys.moves_key(slot)))
    replies = await keys.pipelined(client, commands)
    for reply in replies[:2]:
        if isinstance(reply, Exception):
            raise reply
    seconds, micros = replies[0]
    status, stock_total = replies[1]
    remaining: list[int] = []
    logged: list[list[tuple[str, int, str]]] = []
    for b in range(len(names)):
        have = replies[2 + 2 * b]
        if isinstance(have, Exception):
            raise have
        remaining.append(int(have) if have is not None else 0)
        logged.append(_moves_of(replies[3 + 2 * b]))
    in_flight = await _in_flight(client, logged)
    return Levels(
        status=status.decode() if status is not None else None,
        stock_total=int(stock_total) if stock_total is not None else None,
        remaining=remaining,
        in_flight=in_flight,
        now_ms=int(seconds) * 1000 + int(micros) // 1000,
    )


async def refill(
    client: redis.Redis, scripts: Scripts, campaign_id: str, bucket: int, buckets: int
) -> bool:
    """Moves stock into the dry `bucket` from the fullest bucket (half of it, at least 1).

    True: the bucket has stock again (moved now, by a concurrent refill, or its state is being
    rebuilt: the claim asked again meets that); False: every bucket is empty and no move in
    flight can land, so the campaign is sold out. Concurrent refills of one bucket in this
    process share one move."""
    if buckets <= 1:
        return False
    place = (id(client), campaign_id, bucket)
    running = _running.get(place)
    if running is not None:
        return await asyncio.shield(running)
    future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    _running[place] = future
    try:
        moved = await _refill(client, scripts, campaign_id, bucket, buckets)
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # retrieved: the waiters (if any) raise it themselves
        raise
    else:
        future.set_result(moved)
        return moved
    finally:
        del _running[place]


async def _refill(
    client: redis.Redis, scripts: Scripts, campaign_id: str, bucket: int, buckets: int
) -> bool:
    target = keys.bucket_id(campaign_id, bucket)
    for _ in range(_ATTEMPTS):
        level = await levels(client, campaign_id, buckets)
        if level.remaining[bucket] > 0:
            return True
        source = max((b for b in range(buckets) if b != bucket), key=lambda b: level.remaining[b])
        if level.remaining[source] <= 0:
            if any(level.in_flight) and await recover_moves(client, scripts, campaign_id, buckets):
                continue  # a move landed somewhere: look again
            # On a cluster the buckets are read node by node, not at one instant: a move whose
            # target was read before its give and whose source after its done is in neither
            # reading. Read again before answering sold out: its units are in place by then.
            # A second reading that fails (a slot migrating under it) keeps the first's answer.
            try:
                again = await levels(client, campaign_id, buckets)
            except RedisError:
                return False
            if again.total_remaining > 0:
                continue
            return False
        outcome = await move(
            client,
            scripts,
            keys.bucket_id(campaign_id, source),
            target,
            max(1, level.remaining[source] // 2),
            level.now_ms,
        )
        if outcome != 0:
            return True  # given (1), or the target is being rebuilt (-1): ask again
    return True  # every move lost its race to claims elsewhere: the claim asks again


async def move(
    client: redis.Redis, scripts: Scripts, source: str, target: str, n: int, now_ms: int
) -> int:
    """Moves up to `n` units from slot `source` to slot `target`: mark, take, give, done.

    Returns what `move_give.lua` answered (1 given, 0 void, -1 wait: the move stays logged for
    recovery), or 0 when nothing could be taken."""
    move_id = secrets.token_hex(8)
    # The mark first: a crash after the take leaves a move that recovery must find.
    await client.zadd(keys.LEDGER_ACTIVE_KEY, {MOVE_MARK + source: now_ms})
    taken, epoch = await scripts.move_take(
        client, [keys.meta_key(source), keys.moves_key(source)], [move_id, n, target]
    )
    if not taken:
        return 0
    return await _give_and_forget(client, scripts, source, move_id, int(taken), target, epoch)


async def _give_and_forget(
    client: redis.Redis,
    scripts: Scripts,
    source: str,
    move_id: str,
    n: int,
    target: str,
    epoch: bytes | str,
) -> int:
    given = int(
        await scripts.move_give(
            client, [keys.meta_key(target), keys.applied_key(target)], [move_id, n, epoch]
        )
    )
    if given >= 0:
        await scripts.move_done(client, [keys.moves_key(source)], [move_id])
    return given


async def finish_moves(client: redis.Redis, scripts: Scripts, source: str) -> tuple[int, int]:
    """Finishes the moves logged by the bucket of slot `source` (give, then forget; a move whose
    target is being rebuilt stays logged); returns (moves finished, moves still logged)."""
    logged: dict[bytes, bytes] = await client.hgetall(keys.moves_key(source))  # type: ignore[assignment]  # bytes: the client does not decode
    finished = 0
    for move_id, value in logged.items():
        n, target, epoch = value.decode().split("|", 2)
        given = await _give_and_forget(
            client, scripts, source, move_id.decode(), int(n), target, epoch
        )
        if given >= 0:
            finished += 1
    return finished, len(logged) - finished


async def recover_moves(
    client: redis.Redis, scripts: Scripts, campaign_id: str, buckets: int
) -> int:
    """Finishes every move left in the `:moves` hashes of the campaign's buckets (a crash
    between take and done); returns how many. Safe beside live refills: a give is applied once,
    a done is a delete."""
    finished = 0
    for slot in slots(campaign_id, buckets):
        done, _left = await finish_moves(client, scripts, slot)
        finished += done
    if finished:
        log.info("finished %d stock moves of %s left in flight", finished, campaign_id)
    return finished


def totals_commands(campaign_id: str, buckets: int) -> list[tuple[Any, ...]]:
    """The commands that read a campaign's stock_total and remaining (`totals_of` reads their
    replies): one HMGET for one bucket, as before buckets; with K buckets also the others'
    remaining and every bucket's moves in flight. For `pipelined`."""
    commands: list[tuple[Any, ...]] = [
        ("HMGET", keys.meta_key(campaign_id), "stock_total", "remaining")
    ]
    if buckets > 1:
        names = slots(campaign_id, buckets)
        commands += [("HGET", keys.meta_key(slot), "remaining") for slot in names[1:]]
        commands += [("HGETALL", keys.moves_key(slot)) for slot in names]
    return commands


async def totals_of(client: redis.Redis, replies: list[Any]) -> list[Any]:
    """`[stock_total, remaining]` (as the HMGET of one bucket answers them, bytes or None) from
    the replies to `totals_commands`: remaining summed over the buckets plus moves in flight."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    stock_total, remaining = replies[0]
    if len(replies) == 1 or stock_total is None:
        return [stock_total, remaining]
    buckets = (len(replies) + 1) // 2
    total = int(remaining or 0) + sum(int(r or 0) for r in replies[1:buckets])
    total += sum(await _in_flight(client, [_moves_of(r) for r in replies[buckets:]]))
    return [stock_total, str(total).encode()]


async def totals(client: redis.Redis, campaign_id: str, buckets: int) -> list[Any]:
    """A campaign's `[stock_total, remaining]` from its hot state (None, None: it has none)."""
    return await totals_of(
        client, await keys.pipelined(client, totals_commands(campaign_id, buckets))
    )


async def change_stock(
    client: redis.Redis, scripts: Scripts, campaign_id: str, buckets: int, delta: int
) -> tuple[int, int]:
    """Raises or lowers a published campaign's stock by `delta`; returns (stock_total,
    remaining). Raises `StockBelowClaimed` when the total would fall below the coupons claimed,
    `Unavailable` when a bucket's hot state is missing or stale.

    With K buckets an increase goes to bucket 0, with stock_total, in one script (the
    rebalancer spreads it to the buckets that run dry); a decrease takes from the buckets with
    the most, each take atomic in its bucket, then lowers stock_total in bucket 0; if the buckets
    hold too little (claims took it meanwhile) what was taken is put back. A crash between the
    takes and stock_total leaves fewer units on sale than the total says, never more, until
    `gateway reconcile` (Postgres keeps the old total: it is written after)."""
    if buckets <= 1 or delta >= 0:
        ok, *values = await scripts.change_stock(
            client, [keys.meta_key(campaign_id)], [delta, delta, 0]
        )
        _raise_for(ok, values)
        if buckets <= 1:
            return int(values[0]), int(values[1])
        stock_total, remaining = await totals(client, campaign_id, buckets)
        return int(stock_total), int(remaining)
    wanted = -delta
    level = await levels(client, campaign_id, buckets)
    taken: list[tuple[str, int]] = []
    try:
        for bucket in sorted(range(buckets), key=lambda b: -level.remaining[b]):
            if wanted == 0:
                break
            slot = keys.bucket_id(campaign_id, bucket)
            ok, *values = await scripts.change_stock(client, [keys.meta_key(slot)], [-wanted, 0, 1])
            _raise_for(ok, values)
            if int(values[2]):
                taken.append((slot, -int(values[2])))
                wanted += int(values[2])
        if wanted > 0:
            claimed = (level.stock_total or 0) - level.total_remaining
            raise StockBelowClaimed(
                f"{claimed} coupons are already claimed; stock cannot go below that",
                claimed=claimed,
            )
        ok, *values = await scripts.change_stock(
            client, [keys.meta_key(campaign_id)], [0, delta, 0]
        )
        _raise_for(ok, values)
    except BaseException:
        for slot, units in taken:  # put back what was taken
            await scripts.change_stock(client, [keys.meta_key(slot)], [units, 0, 0])
        raise
    stock_total, remaining = await totals(client, campaign_id, buckets)
    return int(stock_total), int(remaining)


def _raise_for(ok: int, values: list[Any]) -> None:
    if ok == -1:
        raise Unavailable("the campaign's hot state is missing: run `gateway reconcile`")
    if ok == -2:
        raise Unavailable(
            "Redis restarted; the campaign's counters are being rebuilt "
            "(the next claim does it, or `gateway reconcile`): retry"
        )
    if ok == 0:
        claimed = int(values[0]) - int(values[1])
        raise StockBelowClaimed(
            f"{claimed} coupons are already claimed; stock cannot go below that",
            claimed=claimed,
        )
