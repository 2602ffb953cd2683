"""Hot lanes: the few routes a flash sale or a checkout rush hammers, served before the router.

For a claim (the API's and the claim page's), a quote, a reservation and a commit, Litestar's
router, its exception middleware and `gateway_middleware` cost more Python than the work itself.
`HotLanes` wraps the app's ASGI handler (`create_app`) and serves the routes of `LANES` itself,
with the pieces every route uses: the role check (`auth.services.authorize`; none for the claim
page's public claim), the body reader, the JSON and error answers (`gateway/http.py`) and the
metrics. Each lane's route is also a typed handler of the app, which documents it (OpenAPI from
the Struct that decodes its body), answers its other methods (405) and, with
`GATEWAY_HOT_LANES=0`, serves it through the router by calling the same lane function (a test
compares the answers of both ways).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from litestar import Litestar
from litestar.datastructures import State
from litestar.types import ASGIApp, Receive, Send

from gateway.auth.services import authorize
from gateway.checkout.controllers import (
    CHECKOUT_ROLES,
    COMMIT_ROUTE,
    QUOTE_ROUTE,
    RESERVE_ROUTE,
    commit_lane,
    quote_lane,
    reserve_lane,
)
from gateway.claims.controllers import CLAIM_ROLES, CLAIM_ROUTE, claim_lane
from gateway.http import StatusSend, read_body, refusal, send_error, send_json
from gateway.ops.metrics import metrics
from gateway.pages.services import PAGE_CLAIM_ROUTE, page_claim

#: A lane's work: (app state, scope, body, path argument) -> (status, JSON payload); refusals
#: raise `GatewayError`.
LaneHandler = Callable[[State, Any, bytes, str], Awaitable[tuple[int, bytes]]]


class Lane(NamedTuple):
    """One route served before the router: `route` as the app registers it (the metrics' label),
    with at most one path parameter, a whole segment."""

    method: str
    route: str
    handler: LaneHandler
    #: The roles admitted; empty: a public route without a key (the claim page's claim).
    roles: tuple[str, ...]
    #: Whether the handler takes the body (a commit's is never read, as through the router).
    reads_body: bool = True

    @property
    def prefix(self) -> str:
        return self.route.partition("{")[0]

    @property
    def suffix(self) -> str:
        return self.route.rpartition("}")[2] if "{" in self.route else ""


#: The routes are disjoint, so the order only saves time: the hottest first.
LANES = (
    Lane("POST", CLAIM_ROUTE, claim_lane, CLAIM_ROLES),
    Lane("POST", QUOTE_ROUTE, quote_lane, CHECKOUT_ROLES),
    Lane("POST", RESERVE_ROUTE, reserve_lane, CHECKOUT_ROLES),
    Lane("POST", COMMIT_ROUTE, commit_lane, CHECKOUT_ROLES, reads_body=False),
    Lane("POST", PAGE_CLAIM_ROUTE, page_claim, ()),
)

#: (method, prefix, suffix, len(prefix), len(suffix), lane), computed once for `match`; a lane
#: without a path parameter has suffix None.
_Pattern = tuple[str, str, str | None, int, int, Lane]


def compile_lanes(lanes: tuple[Lane, ...]) -> tuple[_Pattern, ...]:
    return tuple(
        (
            lane.method,
            lane.prefix,
            lane.suffix if "{" in lane.route else None,
            len(lane.prefix),
            len(lane.suffix),
            lane,
        )
        for lane in lanes
    )


def match(patterns: tuple[_Pattern, ...], method: str, path: str) -> tuple[Lane, str] | None:
    """The lane serving `method path` and its path argument ("" for none), or None."""
    for lane_method, prefix, suffix, start, tail, lane in patterns:
        if method != lane_method:
            continue
        if suffix is None:
            if path == prefix:
                return lane, ""
        elif path.startswith(prefix) and path.endswith(suffix):
            argument = path[start : len(path) - tail]
            if argument and "/" not in argument:
                return lane, argument
    return None


class HotLanes:
    """The ASGI handler composed around the app's own (`create_app`): requests of a lane are
    served here, every other one by `app`. `enabled` is `GATEWAY_HOT_LANES`."""

    def __init__(self, app: ASGIApp, state: State, enabled: bool) -> None:
        self.app = app
        self.state = state
        self.enabled = enabled
        self.patterns = compile_lanes(LANES)

    async def __call__(self, scope: Any, receive: Receive, send: Send) -> None:
        if self.enabled and scope["type"] == "http":
            found = match(self.patterns, scope["method"], scope["path"])
            if found is not None:
                await self.serve(found[0], found[1], scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def serve(
        self, lane: Lane, argument: str, scope: Any, receive: Receive, send: Send
    ) -> None:
        """Runs `lane` with the checks and answers every route gets."""
        started = time.perf_counter()
        tracked = StatusSend(send)
        try:
            if lane.roles:
                await authorize(scope, self.state.key_cache, lane.roles)
            body = await read_body(receive) if lane.reads_body else b""
            status, payload = await lane.handler(self.state, scope, body, argument)
            await send_json(tracked, status, payload)
        except Exception as exc:  # noqa: BLE001 - every error is answered, as the router does
            error = refusal(exc, scope)
            if not tracked.status:
                await send_error(tracked, error)
        finally:
            metrics.observe(
                lane.method, lane.route, tracked.status or 500, time.perf_counter() - started
            )


def hot_lanes(app: Litestar) -> HotLanes:
    """The app's hot lanes (`create_app` composes them around its handler)."""
    lanes = app.asgi_handler
    assert isinstance(lanes, HotLanes), "create_app composes the lanes"
    return lanes
