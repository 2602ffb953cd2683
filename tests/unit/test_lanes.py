"""The hot lanes' table: which requests a lane serves, and with which path argument."""

from __future__ import annotations

from gateway.ops.lanes import LANES, compile_lanes, match

PATTERNS = compile_lanes(LANES)


def served(method: str, path: str) -> tuple[str, str] | None:
    found = match(PATTERNS, method, path)
    return None if found is None else (found[0].route, found[1])


def test_each_lane_serves_its_route_and_takes_its_one_path_segment() -> None:
    assert served("POST", "/v1/checkout/quote") == ("/v1/checkout/quote", "")
    assert served("POST", "/v1/checkout/redemptions") == ("/v1/checkout/redemptions", "")
    assert served("POST", "/v1/checkout/redemptions/o-1/commit") == (
        "/v1/checkout/redemptions/{order_id:str}/commit",
        "o-1",
    )
    assert served("POST", "/v1/campaigns/cmp_1/claims") == (
        "/v1/campaigns/{campaign_id:str}/claims",
        "cmp_1",
    )
    assert served("POST", "/claim/cmp_1") == ("/claim/{campaign_id:str}", "cmp_1")


def test_other_methods_and_paths_go_to_the_router() -> None:
    assert served("GET", "/v1/campaigns/cmp_1/claims") is None
    assert served("POST", "/v1/campaigns//claims") is None
    assert served("POST", "/v1/campaigns/a/b/claims") is None
    assert served("POST", "/v1/checkout/redemptions/o-1/cancel") is None
    assert served("POST", "/v1/checkout/quote/") is None
    assert served("POST", "/v1/campaigns/cmp_1/grants") is None
    assert served("GET", "/claim/cmp_1") is None  # the claim page itself
    assert served("POST", "/claim/qr/x.svg") is None
    assert served("POST", "/claim/") is None
