"""Every `GATEWAY_*` environment variable, read once, in one place.

The README's configuration table lists the same fields with the same defaults.
"""

from __future__ import annotations

import ipaddress
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
class Rate:
    """A rate limit: `per_second` tokens a second, at most `burst` saved up (`0/0`: no limit)."""

    per_second: float
    burst: int

    @property
    def enabled(self) -> bool:
        return self.per_second > 0

    def __str__(self) -> str:
        return f"{self.per_second:g}/{self.burst}" if self.enabled else "off"


def parse_rate(name: str, raw: str) -> Rate:
    """`"5/10"`: 5 requests a second with a burst of 10; `"5"`: burst 5; `"off"` or `"0"`: none."""
    text = raw.strip().lower()
    if text in ("", "0", "off"):
        return Rate(0.0, 0)
    rate, _, burst = text.partition("/")
    try:
        per_second = float(rate)
        saved = int(burst) if burst else max(1, int(per_second))
    except ValueError:
        per_second, saved = 0.0, 0
    if not (0 < per_second < float("inf")) or saved < 1:
        raise SystemExit(f"GATEWAY_{name} must read like 5/10 (per second/burst), got {raw!r}")
    return Rate(per_second, saved)


def _env_bool(name: str, default: bool) -> bool:
    """`1`/`true`/`yes` or `0`/`false`/`no`/empty (any case); anything else stops the start."""
    raw = _env(name, "1" if default else "0")
    text = raw.strip().lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("", "0", "false", "no"):
        return False
    raise SystemExit(f"GATEWAY_{name} must be 1/true/yes or 0/false/no, got {raw!r}")


def _env_rate(name: str, default: str) -> Rate:
    return parse_rate(name, _env(name, default))


def _env_networks(name: str) -> tuple[str, ...]:
    """A comma-separated list of addresses or CIDR networks, each checked."""
    raw = _env(name, "")
    parts = tuple(part.strip() for part in raw.split(",") if part.strip())
    for part in parts:
        try:
            ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise SystemExit(f"GATEWAY_{name}: {part!r} is not an address or network") from None
    return parts


@dataclass(frozen=True, slots=True)
class Settings:
    """The gateway's configuration; every field is one `GATEWAY_<FIELD>` variable."""

    #: Redis URL (a project-local server is started by `make run` when unset).
    redis_url: str = field(default_factory=lambda: _env("REDIS_URL", "redis://127.0.0.1:56379/0"))
    #: `1`: `GATEWAY_REDIS_URL` names any node of a Redis Cluster (the client finds the others;
    #: only db 0). `rediss://` connects with TLS, in either mode.
    redis_cluster: bool = field(default_factory=lambda: _env_bool("REDIS_CLUSTER", False))
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
    #: A gateway worker that has not reported to the ledger fence for this long is dead: a
    #: rebuild of a campaign's counters stops waiting for it (gateway/store/fence.py).
    worker_dead_after_s: float = field(
        default_factory=lambda: float(_env_int("WORKER_DEAD_AFTER_S", 10))
    )
    #: Longest a campaign's rebuild waits at the ledger fence before it gives up (503, retried
    #: by the next claim).
    rebuild_timeout_s: float = field(
        default_factory=lambda: float(_env_int("REBUILD_TIMEOUT_S", 20))
    )
    #: Secret that signs campaign claim links (HMAC-SHA256). Set it in production.
    link_secret: str = field(
        default_factory=lambda: _env("LINK_SECRET", "dev-link-secret-change-me")
    )
    #: Secret that signs member tokens (HMAC-SHA256): the mall's server asks for one with its
    #: front key (`POST /v1/members/{id}/tokens`) and opens the claim page or wallet with
    #: `&m=<token>`. Set it in production; changing it signs every member out.
    member_token_secret: str = field(
        default_factory=lambda: _env("MEMBER_TOKEN_SECRET", "dev-member-token-secret-change-me")
    )
    #: Seconds a member token is valid.
    member_token_ttl_s: int = field(default_factory=lambda: _env_int("MEMBER_TOKEN_TTL_S", 1800))
    #: `1`: the claim page without a member token also offers a member-id field (a demo: anyone
    #: can act as any registered member). `make run` sets it; never in production.
    demo_pages: bool = field(default_factory=lambda: _env("DEMO_PAGES", "0") == "1")
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
    #: Claims per member of one campaign, `<per second>/<burst>`, on every claim route (429
    #: `rate_limited` beyond it; `off` for none). Counted in each worker process: with N
    #: workers a member who spreads requests over all of them gets up to N times this. A retry
    #: with the same Idempotency-Key as the member's last admitted claim is not counted again.
    claim_rate_per_member: Rate = field(
        default_factory=lambda: _env_rate("CLAIM_RATE_PER_MEMBER", "5/10")
    )
    #: Claims per client address on the public pages' routes (API-key callers are not limited
    #: per address). Generous: a carrier's NAT puts many members behind one address.
    claim_rate_per_ip: Rate = field(
        default_factory=lambda: _env_rate("CLAIM_RATE_PER_IP", "50/100")
    )
    #: Proxies (addresses or CIDR networks, comma-separated) whose `X-Forwarded-For` is
    #: believed: the client is the right-most address in it that is not one of them.
    trusted_proxies: tuple[str, ...] = field(
        default_factory=lambda: _env_networks("TRUSTED_PROXIES")
    )
    #: Where the workers of one host share their counters so that one `/metrics` scrape shows
    #: them all (used when `GATEWAY_WORKERS` > 1 or when set). Unset: `<tmp>/gateway-metrics-
    #: <port>`. Local to the host; totals carry on across restarts while it lives.
    metrics_dir: str = field(default_factory=lambda: _env("METRICS_DIR", ""))

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
    return [
        (f"GATEWAY_{f.name.upper()}", _show(getattr(defaults, f.name))) for f in fields(Settings)
    ]


def _show(value: object) -> str:
    return ",".join(value) if isinstance(value, tuple) else str(value)
