"""API keys: created by the CLI, stored as SHA-256 hashes, looked up through a short cache.

A request's caller (its role and the actor its events record) is resolved once, when the key is
checked, and carried on the ASGI scope (`caller_of`): nothing later reads the cache again, so an
entry that expires while the body is read cannot change who the request was made by.

Revocation: `gateway keys revoke ID` marks the row; a running gateway keeps answering from its
cache until the entry expires, so a revoked key stops working within `GATEWAY_KEY_CACHE_TTL_S`
seconds at most (a key never used since the revocation stops at once).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import asyncpg
import msgspec

from gateway.clock import Clock, clock
from gateway.errors import Forbidden, Unauthorized
from gateway.http import header

if TYPE_CHECKING:
    from litestar import Request

Role = Literal["admin", "clerk", "front", "checkout"]
ROLES: tuple[Role, ...] = ("admin", "clerk", "front", "checkout")
#: Longest key name (`--name`): a person or a till, not a document.
NAME_MAX = 100

INSERT_KEY = "INSERT INTO api_keys (key_hash, role, name) VALUES ($1, $2, $3) RETURNING id"
CALLER_OF_KEY = "SELECT id, role, name FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
LIST_KEYS = "SELECT id, role, name, created_at, revoked_at FROM api_keys ORDER BY id"
REVOKE_KEY = """
UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING revoked_at
"""

#: Where `authorize` leaves the request's `Caller` on the ASGI scope.
CALLER_SCOPE_KEY = "gateway.caller"

# Bounds the cache so a flood of random keys cannot grow memory without limit.
_CACHE_MAX = 100_000


class Caller(msgspec.Struct, frozen=True, kw_only=True):
    """Who a request was made by: the key's id, its role, and the actor its events record."""

    key_id: int
    role: str
    #: The key's name (`--name`), or `key:<id>` for a key without one: stable, never the key.
    actor: str


class KeyInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A row of `gateway keys list`."""

    id: int
    role: str
    name: str | None
    created_at: datetime
    revoked_at: datetime | None


def actor_label(key_id: int, name: str | None) -> str:
    return name if name else f"key:{key_id}"


def check_name(name: str | None) -> str | None:
    """The key name, stripped; None for no name. Refuses what cannot label a key."""
    if name is None:
        return None
    name = name.strip()
    if not 1 <= len(name) <= NAME_MAX or not name.isprintable():
        raise ValueError(f"--name must be 1..{NAME_MAX} printable characters")
    return name


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


async def create_key(pool: asyncpg.Pool, role: Role, name: str | None = None) -> str:
    """A new key for `role`, labelled `name`; only its hash is stored."""
    key = "gw_" + secrets.token_urlsafe(32)
    await pool.fetchval(INSERT_KEY, hash_key(key), role, check_name(name))
    return key


async def list_keys(pool: asyncpg.Pool) -> list[KeyInfo]:
    """Every key ever created, oldest first, revoked ones included."""
    return [
        KeyInfo(
            id=row["id"],
            role=row["role"],
            name=row["name"],
            created_at=row["created_at"],
            revoked_at=row["revoked_at"],
        )
        for row in await pool.fetch(LIST_KEYS)
    ]


async def revoke_key(pool: asyncpg.Pool, key_id: int) -> datetime | None:
    """Revokes key `key_id` (again: a no-op); when it was revoked, or None for no such key."""
    revoked: datetime | None = await pool.fetchval(REVOKE_KEY, key_id)
    return revoked


async def authorize(scope: Any, keys: KeyCache, roles: tuple[str, ...]) -> Caller:
    """The role check of every route: refuses the request (401/403) unless its API key has one
    of `roles`; leaves the caller (role and actor) on the scope for the events the request
    writes (`caller_of`, `actor`)."""
    bearer = header(scope, b"authorization")
    if bearer is None or not bearer.startswith(b"Bearer "):
        raise Unauthorized("missing API key: send `Authorization: Bearer <key>`")
    key = bearer[7:].strip().decode("latin-1")
    hit, caller = keys.cached(key)
    if not hit:
        caller = await keys.caller(key)
    if caller is None:
        raise Unauthorized("unknown API key")
    if caller.role not in roles:
        raise Forbidden(f"role {caller.role!r} may not call this route")
    scope[CALLER_SCOPE_KEY] = caller
    return caller


def caller_of(scope: Any) -> Caller | None:
    """The caller that the role check resolved for this request (None on routes without one)."""
    found: Caller | None = scope.get(CALLER_SCOPE_KEY)
    return found


def scope_actor(scope: Any) -> str:
    """The actor for the events rows: the name of the caller's key (or `key:<id>`), resolved
    once by the role check and carried on the scope, never looked up again here."""
    caller = caller_of(scope)
    if caller is None:  # every route that records an actor admits only some roles
        raise Unauthorized("missing API key: send `Authorization: Bearer <key>`")
    return caller.actor


def actor(request: Request[Any, Any, Any]) -> str:
    """The actor of every event written on behalf of `request` (see `scope_actor`)."""
    return scope_actor(request.scope)


class KeyCache:
    """Maps a presented key to its `Caller` (or None), remembering answers for `ttl_s` seconds.

    Time is monotonic plus the test clock's offset, so a test can move past the TTL instead of
    sleeping.
    """

    def __init__(self, pool: asyncpg.Pool, ttl_s: int, time_source: Clock = clock) -> None:
        self._pool = pool
        self._ttl = ttl_s
        self._clock = time_source
        self._entries: dict[str, tuple[Caller | None, float]] = {}

    def _now(self) -> float:
        return time.monotonic() + self._clock.offset_ms / 1000

    def cached(self, key: str) -> tuple[bool, Caller | None]:
        entry = self._entries.get(key)
        if entry is not None and entry[1] > self._now():
            return True, entry[0]
        return False, None

    async def caller(self, key: str) -> Caller | None:
        hit, caller = self.cached(key)
        if hit:
            return caller
        row = await self._pool.fetchrow(CALLER_OF_KEY, hash_key(key))
        caller = (
            None
            if row is None
            else Caller(
                key_id=row["id"], role=row["role"], actor=actor_label(row["id"], row["name"])
            )
        )
        if len(self._entries) >= _CACHE_MAX:
            self._entries.clear()
        self._entries[key] = (caller, self._now() + self._ttl)
        return caller
