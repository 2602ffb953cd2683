"""The rate limiter and the client address: pure, no servers."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import RateLimited
from gateway.ops.ratelimit import (
    ClaimLimits,
    Limiter,
    TrustedProxies,
    client_address,
    retry_after,
)
from gateway.settings import Rate, Settings, parse_rate


@pytest.mark.parametrize(
    ("raw", "rate"),
    [
        ("5/10", Rate(5.0, 10)),
        (" 0.5/3 ", Rate(0.5, 3)),
        ("20", Rate(20.0, 20)),
        ("0.2", Rate(0.2, 1)),
        ("off", Rate(0.0, 0)),
        ("0", Rate(0.0, 0)),
        ("", Rate(0.0, 0)),
    ],
)
def test_rates_read_as_per_second_and_burst(raw: str, rate: Rate) -> None:
    assert parse_rate("X", raw) == rate


@pytest.mark.parametrize("raw", ["5/0", "-1/4", "five", "5/ten", "nan/3", "inf/3", "5/2.5"])
def test_a_rate_that_does_not_read_stops_the_gateway(raw: str) -> None:
    with pytest.raises(SystemExit, match="GATEWAY_X"):
        parse_rate("X", raw)


def test_the_default_member_rate_is_five_a_second_with_a_burst_of_ten() -> None:
    assert str(Settings().claim_rate_per_member) == "5/10"


def test_a_burst_is_admitted_then_the_next_request_waits_one_interval() -> None:
    limiter = Limiter(Rate(5.0, 10))
    assert [limiter.admit("m", 100.0) for _ in range(10)] == [0.0] * 10
    assert limiter.admit("m", 100.0) == pytest.approx(0.2, abs=1e-5)
    # A refused request takes nothing: the wait is the same when asked again.
    assert limiter.admit("m", 100.0) == pytest.approx(0.2, abs=1e-5)
    assert limiter.admit("m", 100.2) == 0.0
    assert limiter.admit("m", 100.2) > 0
    # Other keys have their own bucket.
    assert limiter.admit("n", 100.2) == 0.0


def _exact_bucket(rate: Fraction, burst: int, times: list[Fraction]) -> list[bool]:
    """The textbook token bucket in exact arithmetic: the reference."""
    tokens, last, out = Fraction(burst), times[0], []
    for now in times:
        tokens = min(Fraction(burst), tokens + (now - last) * rate)
        last = now
        admitted = tokens >= 1
        if admitted:
            tokens -= 1
        out.append(admitted)
    return out


@given(
    rate=st.sampled_from([Fraction(5), Fraction(1, 2), Fraction(4), Fraction(10), Fraction(3)]),
    burst=st.integers(1, 20),
    gaps=st.lists(st.integers(0, 128), min_size=1, max_size=200),
)
def test_the_limiter_admits_exactly_what_a_token_bucket_admits(
    rate: Fraction, burst: int, gaps: list[int]
) -> None:
    # Times on a 1/64 s grid are exact in binary floating point, so any disagreement would be
    # the limiter's, not the clock's: it never refuses a request the bucket would admit.
    times, now = [], Fraction(1000)
    for gap in gaps:
        now += Fraction(gap, 64)
        times.append(now)
    limiter = Limiter(Rate(float(rate), burst))
    got = [limiter.admit("m", float(t)) == 0.0 for t in times]
    assert got == _exact_bucket(rate, burst, times)


def test_a_retry_with_the_last_admitted_idempotency_key_is_free() -> None:
    limiter = Limiter(Rate(5.0, 2))
    assert limiter.admit("m", 0.0, "press-1") == 0.0
    assert all(limiter.admit("m", 0.0, "press-1") == 0.0 for _ in range(50))
    assert limiter.admit("m", 0.0, "press-2") == 0.0
    assert limiter.admit("m", 0.0, "press-3") > 0  # a third press within the burst of 2
    assert limiter.admit("m", 0.0, "press-3") > 0  # refused keys are not remembered
    assert limiter.admit("m", 0.0, "press-2") == 0.0  # the last admitted one still retries
    assert limiter.admit("m", 0.0, "press-1") > 0  # an older one is a new press


def test_prune_forgets_only_the_buckets_that_are_full_again() -> None:
    limiter = Limiter(Rate(5.0, 10))
    limiter.admit("old", 0.0, "k")
    for _ in range(10):
        limiter.admit("busy", 10.0)
    assert limiter.prune(10.1) == 1  # "old" was full again at 0.2 s; "busy" not before 12 s
    assert limiter.admit("busy", 10.1) > 0
    assert limiter.admit("old", 10.1, "k") == 0.0
    assert limiter.prune(100.0) == 0 and len(limiter) == 0


@pytest.mark.parametrize(("wait", "header"), [(0.0001, 1), (0.2, 1), (1.0, 1), (1.01, 2), (7.5, 8)])
def test_retry_after_is_whole_seconds_and_at_least_one(wait: float, header: int) -> None:
    assert retry_after(wait) == header


def _scope(peer: str | None, *forwarded: str) -> dict[str, Any]:
    return {
        "client": (peer, 40000) if peer is not None else None,
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded],
    }


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    proxies = TrustedProxies(())
    assert client_address(_scope("203.0.113.9", "198.51.100.1"), proxies) == "203.0.113.9"
    assert client_address(_scope(None), proxies) == ""


def test_behind_trusted_proxies_the_client_is_the_right_most_untrusted_hop() -> None:
    proxies = TrustedProxies(("10.0.0.0/8", "192.0.2.7"))
    # The client wrote "1.1.1.1" itself: only what the trusted proxies appended counts.
    scope = _scope("10.0.0.2", "1.1.1.1, 203.0.113.9", "192.0.2.7")
    assert client_address(scope, proxies) == "203.0.113.9"
    assert client_address(_scope("10.0.0.2", "203.0.113.9:5123"), proxies) == "203.0.113.9"
    assert client_address(_scope("10.0.0.2", "[2001:db8::1]:443"), proxies) == "2001:db8::1"
    assert client_address(_scope("10.0.0.2", "2001:db8::1"), proxies) == "2001:db8::1"
    # Every hop is a proxy: the left-most is the best known.
    assert client_address(_scope("10.0.0.2", "10.1.1.1, 192.0.2.7"), proxies) == "10.1.1.1"
    # No header: the proxy itself.
    assert client_address(_scope("10.0.0.2"), proxies) == "10.0.0.2"


def test_an_untrusted_peer_cannot_choose_its_address_with_the_header() -> None:
    proxies = TrustedProxies(("10.0.0.0/8",))
    assert client_address(_scope("203.0.113.9", "10.0.0.1, 1.2.3.4"), proxies) == "203.0.113.9"


def test_check_member_refuses_with_retry_after_and_off_never_refuses() -> None:
    limits = ClaimLimits(dataclasses.replace(Settings(), claim_rate_per_member=Rate(1.0, 2)))
    limits.now = lambda: 50.0
    limits.check_member("c", "m", None)
    limits.check_member("c", "m", None)
    with pytest.raises(RateLimited) as refused:
        limits.check_member("c", "m", None)
    assert refused.value.status == 429 and refused.value.code == "rate_limited"
    assert refused.value.headers() == {"Retry-After": "1"}
    limits.check_member("another campaign", "m", None)  # the key is (campaign, member)
    off = ClaimLimits(dataclasses.replace(Settings(), claim_rate_per_member=Rate(0.0, 0)))
    for _ in range(1000):
        off.check_member("c", "m", None)


def test_check_address_counts_the_forwarded_client_not_the_proxy() -> None:
    settings = dataclasses.replace(
        Settings(), claim_rate_per_ip=Rate(1.0, 1), trusted_proxies=("10.0.0.1",)
    )
    limits = ClaimLimits(settings)
    limits.now = lambda: 50.0
    limits.check_address(_scope("10.0.0.1", "203.0.113.1"))
    limits.check_address(_scope("10.0.0.1", "203.0.113.2"))  # another client, same proxy
    with pytest.raises(RateLimited):
        limits.check_address(_scope("10.0.0.1", "203.0.113.1"))
