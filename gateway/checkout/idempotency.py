"""Idempotency-Key for Postgres-backed writes (refunds, transfers).

The claim path keeps its keys in Redis, next to the stock it takes; writes whose effect lives in
Postgres keep theirs in the same transaction as the effect, so a key is remembered exactly when
its write committed.
"""

from __future__ import annotations

import hashlib

import asyncpg

from gateway.errors import IdempotencyMismatch

# Two-int advisory locks: their own space, apart from the migration lock.
_LOCK_CLASS = 7_310_003

LOCK_KEY = "SELECT pg_advisory_xact_lock($1, hashtext($2 || ':' || $3))"
GET_KEY = """
SELECT body_hash, status, response FROM idempotency
WHERE scope = $1 AND key = $2 AND created_at > now() - make_interval(secs => $3)
"""
PUT_KEY = """
INSERT INTO idempotency (scope, key, body_hash, status, response) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (scope, key) DO UPDATE
SET body_hash = $3, status = $4, response = $5, created_at = now()
"""
FORGET_OLD = "DELETE FROM idempotency WHERE created_at < now() - make_interval(secs => $1)"


def request_hash(*parts: bytes) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


async def lock_key(conn: asyncpg.Connection, scope: str, key: str) -> None:
    """Inside a transaction: waits for any other transaction using the key in `scope`, until
    this one ends (a write that keeps its key in a table of its own, as exchanges do)."""
    await conn.execute(LOCK_KEY, _LOCK_CLASS, scope, key)


async def replay(
    conn: asyncpg.Connection, scope: str, key: str, body_hash: bytes, ttl_s: int
) -> tuple[int, bytes] | None:
    """Inside the write's transaction: serialises users of the key, and returns the first
    response when the key was used with the same request (a different one is a 409)."""
    await lock_key(conn, scope, key)
    row = await conn.fetchrow(GET_KEY, scope, key, float(ttl_s))
    if row is None:
        return None
    if bytes(row["body_hash"]) != body_hash:
        raise IdempotencyMismatch("this Idempotency-Key was used with a different request")
    return int(row["status"]), bytes(row["response"])


async def remember(
    conn: asyncpg.Connection, scope: str, key: str, body_hash: bytes, status: int, body: bytes
) -> None:
    await conn.execute(PUT_KEY, scope, key, body_hash, status, body)


async def forget_old(pool: asyncpg.Pool, ttl_s: int) -> None:
    await pool.execute(FORGET_OLD, float(ttl_s))
