"""API keys: created by the CLI, stored as SHA-256 hashes, looked up through a short cache."""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Literal

import asyncpg

Role = Literal["admin", "clerk", "front", "checkout"]
ROLES: tuple[Role, ...] = ("admin", "clerk", "front", "checkout")

INSERT_KEY = "INSERT INTO api_keys (key_hash, role) VALUES ($1, $2)"
ROLE_OF_KEY = "SELECT role FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"

# Bounds the cache so a flood of random keys cannot grow memory without limit.
_CACHE_MAX = 100_000


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


async def create_key(pool: asyncpg.Pool, role: Role) -> str:
    """A new key for `role`; only its hash is stored."""
    key = "gw_" + secrets.token_urlsafe(32)
    await pool.execute(INSERT_KEY, hash_key(key), role)
    return key


class KeyCache:
    """Maps a presented key to its role (or None), remembering answers for `ttl_s` seconds."""

    def __init__(self, pool: asyncpg.Pool, ttl_s: int) -> None:
        self._pool = pool
        self._ttl = ttl_s
        self._entries: dict[str, tuple[str | None, float]] = {}

    def cached(self, key: str) -> tuple[bool, str | None]:
        entry = self._entries.get(key)
        if entry is not None and entry[1] > time.monotonic():
            return True, entry[0]
        return False, None

    async def role(self, key: str) -> str | None:
        hit, role = self.cached(key)
        if hit:
            return role
        found: str | None = await self._pool.fetchval(ROLE_OF_KEY, hash_key(key))
        role = found
        if len(self._entries) >= _CACHE_MAX:
            self._entries.clear()
        self._entries[key] = (role, time.monotonic() + self._ttl)
        return role
