"""Every `GATEWAY_*` environment variable, read once, in one place.

The README's configuration table lists the same fields with the same defaults.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Literal


def _env(name: str, default: str) -> str:
    return os.environ.get(f"GATEWAY_{name}", default)


def _env_int(name: str, default: int) -> int:
    raw = _env(name, str(default))
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"GATEWAY_{name} must be an integer, got {raw!r}") from None


@dataclass(frozen=True, slots=True)
class Settings:
    """The gateway's configuration; every field is one `GATEWAY_<FIELD>` variable."""

    #: Redis URL (a project-local server is started by `make run` when unset).
    redis_url: str = field(default_factory=lambda: _env("REDIS_URL", "redis://127.0.0.1:56379/0"))
    #: Postgres URL (a project-local cluster is started by `make run` when unset).
    database_url: str = field(
        default_factory=lambda: _env("DATABASE_URL", "postgresql://gateway@127.0.0.1:55432/gateway")
    )
    #: Interface and port `make run` serves on.
    host: str = field(default_factory=lambda: _env("HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: _env_int("PORT", 8000))
    #: Worker processes of the HTTP server.
    workers: int = field(default_factory=lambda: _env_int("WORKERS", 1))
    #: `ledger`: a claim's 201 waits for its Postgres commit (group commit). `redis`: the 201 is
    #: sent after the Redis script; a Redis crash may lose up to one second of claims (AOF
    #: everysec) until they reach Postgres.
    claim_durability: Literal["ledger", "redis"] = field(
        default_factory=lambda: _durability(_env("CLAIM_DURABILITY", "ledger"))
    )
    #: How long a claim waits for its ledger commit before answering 503 `ledger_unavailable`.
    ledger_timeout_ms: int = field(default_factory=lambda: _env_int("LEDGER_TIMEOUT_MS", 2000))
    #: Serve claims, quotes, reservations and commits before Litestar's router
    #: (`gateway/ops/lanes.py`); `0` routes them like every other request (same answers, more
    #: Python per request).
    hot_lanes: bool = field(default_factory=lambda: _env("HOT_LANES", "1") != "0")
    #: Ledger writer threads (connections) per worker: one would make every claim wait for the
    #: batch before its own; a few in flight keep group commit and cut that wait.
    ledger_writers: int = field(default_factory=lambda: _env_int("LEDGER_WRITERS", 2))
    #: Most claims written to Postgres in one statement.
    ledger_batch_max: int = field(default_factory=lambda: _env_int("LEDGER_BATCH_MAX", 2000))
    #: Stream entries older than this are treated as left by a dead worker and drained.
    ledger_recovery_age_ms: int = field(
        default_factory=lambda: _env_int("LEDGER_RECOVERY_AGE_MS", 5000)
    )
    #: Secret that signs campaign claim links (HMAC-SHA256). Set it in production.
    link_secret: str = field(
        default_factory=lambda: _env("LINK_SECRET", "dev-link-secret-change-me")
    )
    #: Base URL that claim links and QR codes point at (the mall's front end). Unset: the
    #: gateway itself, `http://<GATEWAY_HOST>:<GATEWAY_PORT>` (a wildcard host as 127.0.0.1).
    public_url: str = ""
    #: Seconds a checkout reservation holds its coupons.
    reservation_ttl_s: int = field(default_factory=lambda: _env_int("RESERVATION_TTL_S", 900))
    #: Seconds an API key lookup is cached in process.
    key_cache_ttl_s: int = field(default_factory=lambda: _env_int("KEY_CACHE_TTL_S", 30))
    #: Seconds an Idempotency-Key is remembered.
    idempotency_ttl_s: int = field(default_factory=lambda: _env_int("IDEMPOTENCY_TTL_S", 86400))
    #: Zone for the rules that read the calendar (birthdays).
    time_zone: str = field(default_factory=lambda: _env("TIME_ZONE", "Asia/Shanghai"))
    #: Postgres pool size per worker.
    pg_pool_size: int = field(default_factory=lambda: _env_int("PG_POOL_SIZE", 10))
    #: Log level.
    log_level: str = field(default_factory=lambda: _env("LOG_LEVEL", "INFO"))

    def __post_init__(self) -> None:
        # A default that depends on two other fields: filled here, after they are read.
        if not self.public_url:
            url = _env("PUBLIC_URL", "") or served_url(self.host, self.port)
            object.__setattr__(self, "public_url", url)


def served_url(host: str, port: int) -> str:
    """The base URL of the gateway served on `host` and `port`, as a client would open it."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - compared with, not bound to
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address in a URL
    return f"http://{host}:{port}"


def _durability(raw: str) -> Literal["ledger", "redis"]:
    if raw == "ledger":
        return "ledger"
    if raw == "redis":
        return "redis"
    raise SystemExit(f"GATEWAY_CLAIM_DURABILITY must be 'ledger' or 'redis', got {raw!r}")


@cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings()


def describe() -> list[tuple[str, str]]:
    """(variable, default) pairs, for the README and `gateway settings`."""
    defaults = Settings()
    return [(f"GATEWAY_{f.name.upper()}", str(getattr(defaults, f.name))) for f in fields(Settings)]
