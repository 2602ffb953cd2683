"""Postgres: the connection pool and the versioned migrations."""

from __future__ import annotations

import importlib.resources
import json
import logging

import asyncpg

log = logging.getLogger(__name__)

# One advisory lock id serialises concurrent `gateway migrate` runs.
_MIGRATION_LOCK = 7_310_001

CREATE_SCHEMA_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
APPLIED_VERSIONS = "SELECT version FROM schema_migrations"
RECORD_VERSION = "INSERT INTO schema_migrations (version) VALUES ($1)"


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _no_reset(conn: asyncpg.Connection) -> None:
    """The gateway keeps no session state on pooled connections (no LISTEN, cursors, advisory
    locks or SETs), so the default reset, a round trip per release, is skipped."""


async def create_pool(dsn: str, size: int) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=size,
        init=_init_connection,
        reset=_no_reset,
        command_timeout=30,
    )
    assert pool is not None
    return pool


def migration_files() -> list[tuple[str, str]]:
    """(version, sql) of every file in `store/migrations`, in order."""
    folder = importlib.resources.files("gateway.store") / "migrations"
    found = [
        (entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    ]
    return sorted(found)


async def migrate(dsn: str) -> list[str]:
    """Applies the migrations not yet recorded; returns the versions it applied."""
    conn = await asyncpg.connect(dsn)
    applied: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        await conn.execute(CREATE_SCHEMA_TABLE)
        done = {row["version"] for row in await conn.fetch(APPLIED_VERSIONS)}
        for version, sql in migration_files():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(RECORD_VERSION, version)
            log.info("applied migration %s", version)
            applied.append(version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
        await conn.close()
    return applied
