"""Rate limits of claims: per member on every claim route, per client address on the public pages.

The per-member limit counts a member's presses of one campaign's button: the key is (campaign,
member). A member claiming many campaigns at once (a coupon centre's "claim all", 一键领取) is
not throttled for it; each campaign's `per_member_limit` already bounds what that can take.

A limit is a token bucket per key, kept in process and stored in its cheapest form (GCRA): one
float per key, the time at which the key's bucket is full again. Admitting a request is one dict
read, one clock read and one dict write; a key whose bucket is full again is the same as a key
never seen, so `prune` (run every few seconds off the request path) drops it and the dict only
holds the keys active in the last `burst / per_second` seconds.

Each worker process keeps its own buckets: with N workers a member whose requests are spread
over all of them is admitted up to N times the configured rate. Exact per-member counting across
processes would cost a Redis round trip per claim; the limit is there to stop one member's
button (or script) from flooding the gateway, which a per-worker bound does.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import time
from collections.abc import Callable, Hashable
from typing import Any

from gateway.errors import RateLimited
from gateway.settings import Rate, Settings

log = logging.getLogger(__name__)

#: Seconds between two prunes of the buckets.
PRUNE_EVERY_S = 5.0
# Float sums of the interval may land a hair above `burst * interval`: never refuse for that.
_SLACK = 1e-6


class Limiter:
    """Token buckets of one rate, one per key (a campaign and member, a client address)."""

    __slots__ = ("_due", "_interval", "_retries", "_tolerance", "rate")

    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self._interval = 1.0 / rate.per_second
        # A bucket admits while its due time is at most `burst` intervals ahead of now.
        self._tolerance = rate.burst * self._interval * (1 + _SLACK)
        #: key -> when its bucket is full again (monotonic seconds).
        self._due: dict[Hashable, float] = {}
        #: key -> the Idempotency-Key of its last admitted request: a retry of it is free.
        self._retries: dict[Hashable, str] = {}

    def admit(self, key: Hashable, now: float, retry_of: str | None = None) -> float:
        """0.0 when the request is admitted (it takes a token); otherwise the seconds until it
        would be, and nothing is taken. A request carrying the same Idempotency-Key as the
        key's last admitted one is a retry of that request and is admitted without a token."""
        if retry_of is not None and self._retries.get(key) == retry_of:
            return 0.0
        due = self._due.get(key, now)
        if due < now:
            due = now
        due += self._interval
        ahead = due - now
        if ahead > self._tolerance:
            return ahead - self._tolerance
        self._due[key] = due
        if retry_of is not None:
            self._retries[key] = retry_of
        return 0.0

    def prune(self, now: float) -> int:
        """Forgets the keys whose bucket is full again; returns how many are still held."""
        self._due = due = {key: t for key, t in self._due.items() if t > now}
        if self._retries:
            self._retries = {key: k for key, k in self._retries.items() if key in due}
        return len(due)

    def __len__(self) -> int:
        return len(self._due)


def retry_after(wait_s: float) -> int:
    """`Retry-After` in whole seconds, at least 1."""
    return max(1, math.ceil(wait_s))


class TrustedProxies:
    """The proxies whose `X-Forwarded-For` is believed."""

    __slots__ = ("_addresses", "_networks")

    def __init__(self, entries: tuple[str, ...]) -> None:
        networks = [ipaddress.ip_network(entry, strict=False) for entry in entries]
        # Single addresses compare as strings first: no parsing for the common case.
        self._addresses = frozenset(
            str(n.network_address) for n in networks if n.num_addresses == 1
        )
        self._networks = tuple(n for n in networks if n.num_addresses > 1)

    def __bool__(self) -> bool:
        return bool(self._addresses or self._networks)

    def __contains__(self, address: str) -> bool:
        if address in self._addresses:
            return True
        if not self._networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)


def client_address(scope: Any, proxies: TrustedProxies) -> str:
    """The client's address: the peer, or when the peer is a trusted proxy, the right-most
    address of `X-Forwarded-For` that is not a trusted proxy (each proxy appends the address
    it saw, so everything left of that one was written by the client and proves nothing)."""
    client = scope.get("client")
    peer: str = client[0] if client else ""
    if not proxies or peer not in proxies:
        return peer
    hops: list[str] = []
    for name, value in scope["headers"]:
        if name == b"x-forwarded-for":
            hops += value.decode("latin-1").split(",")
    for hop in reversed(hops):
        address = _bare(hop)
        if not address:
            continue
        if address not in proxies:
            return address
        peer = address
    return peer  # every hop a trusted proxy: the left-most one is the best we know


def _bare(hop: str) -> str:
    """An address without the port or brackets some proxies add (`1.2.3.4:5`, `[::1]:5`)."""
    hop = hop.strip()[:64]
    if hop.startswith("["):
        return hop[1 : hop.find("]")] if "]" in hop else hop[1:]
    if hop.count(":") == 1:
        return hop.partition(":")[0]
    return hop


class ClaimLimits:
    """The claim routes' limits: per member (every route) and per client address (the public
    pages' routes; API-key callers, the mall's servers, claim for many members from few
    addresses and are never limited per address)."""

    def __init__(self, settings: Settings) -> None:
        self.per_member = (
            Limiter(settings.claim_rate_per_member)
            if settings.claim_rate_per_member.enabled
            else None
        )
        self.per_address = (
            Limiter(settings.claim_rate_per_ip) if settings.claim_rate_per_ip.enabled else None
        )
        self.proxies = TrustedProxies(settings.trusted_proxies)
        #: The clock of the buckets (a test may stop it).
        self.now: Callable[[], float] = time.monotonic

    def check_member(self, campaign_id: str, member_id: str, idempotency_key: str | None) -> None:
        """Refuses (429) a member over the per-member limit of the campaign's claims."""
        limiter = self.per_member
        if limiter is None:
            return
        wait = limiter.admit((campaign_id, member_id), self.now(), idempotency_key)
        if wait:
            raise RateLimited(
                f"too many claims of this campaign for member {member_id!r}: at most "
                f"{limiter.rate.per_second:g} a second (bursts of {limiter.rate.burst})",
                retry_after=retry_after(wait),
            )

    def check_address(self, scope: Any, retry_of: str | None = None) -> None:
        """Refuses (429) a client address over the per-address limit (the public pages)."""
        limiter = self.per_address
        if limiter is None:
            return
        address = client_address(scope, self.proxies)
        wait = limiter.admit(address, self.now(), retry_of)
        if wait:
            raise RateLimited(
                "too many claims from this address, retry shortly", retry_after=retry_after(wait)
            )

    def prune(self, now: float) -> None:
        for limiter in (self.per_member, self.per_address):
            if limiter is not None:
                limiter.prune(now)

    async def prune_forever(self, every_s: float = PRUNE_EVERY_S) -> None:
        """The background task that keeps the buckets to the keys active lately."""
        while True:
            await asyncio.sleep(every_s)
            self.prune(self.now())
