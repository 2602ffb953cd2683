"""Wire helpers: times, identifiers, decoding errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import InvalidRequest
from gateway.wire import check_id, decode, iso_ms, zone


@given(st.integers(min_value=-(10**12), max_value=10**13))
def test_iso_ms_matches_datetime_formatting(ms: int) -> None:
    # Exact integer arithmetic: `ms / 1000` as a float can round to the wrong millisecond.
    exact = datetime.fromtimestamp(ms // 1000, zone()) + timedelta(milliseconds=ms % 1000)
    assert iso_ms(ms) == exact.isoformat(timespec="milliseconds")
    assert datetime.fromisoformat(iso_ms(ms)) == exact.astimezone(UTC)


def test_ids_are_checked() -> None:
    assert check_id("m-1.a:b_c", "member_id") == "m-1.a:b_c"
    for bad in ("", "x" * 65, "a b", "é", "a/b"):
        with pytest.raises(InvalidRequest, match="member_id"):
            check_id(bad, "member_id")


def test_decode_names_the_field() -> None:
    from gateway.claims.schemas import ClaimRequest

    with pytest.raises(InvalidRequest, match="member_id"):
        decode(b'{"member_id": 5, "channel": "online"}', ClaimRequest)
    with pytest.raises(InvalidRequest, match="JSON"):
        decode(b"{", ClaimRequest)


def test_latency_histogram_buckets_are_le_bounds() -> None:
    from gateway.ops.metrics import BUCKETS, Metrics

    metrics = Metrics()
    for seconds in (0.0005, 0.001, 0.0011, 5.0, 99.0):
        metrics.observe("POST", "/r", 201, seconds)
    counts = metrics.latency_counts["/r"]
    assert counts[0] == 2  # 0.0005 and exactly 0.001 fall in le="0.001"
    assert counts[1] == 1  # 0.0011 in le="0.0025"
    assert counts[BUCKETS.index(5.0)] == 1 and counts[-1] == 1  # 99 s only in +Inf
    assert 'gateway_request_seconds_bucket{route="/r",le="+Inf"} 5' in metrics.render()
