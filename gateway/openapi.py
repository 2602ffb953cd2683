"""The OpenAPI document's cross-cutting parts: the Bearer scheme, each operation's roles, links.

Roles: every `/v1` handler names the roles it admits in `opt["roles"]` (the middleware checks
them); the document carries the same tuple as the operation's security requirement,
`[{"BearerAuth": ["checkout", "clerk"]}]` (OpenAPI 3.1 lets a non-OAuth requirement list the
roles it needs), so a client or a fuzzer knows which key may call what. Routes without roles
(health, readiness, metrics) declare `security: []`.

Links: how an answer feeds the next request (a created campaign's `id` is the path of its
publish, a claimed coupon's `code` goes into a cart, a reservation's `order_id` is committed).
They let a stateful client walk the whole flow: create, publish, claim, quote, reserve, commit.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import (
    Components,
    Link,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Schema,
    SecurityScheme,
)
from litestar.openapi.spec.enums import OpenAPIType
from litestar.routes import HTTPRoute

from gateway.pages.docs import OfflineSwagger
from gateway.wire import Struct

SCHEME = "BearerAuth"

_ERROR = Schema(
    type=OpenAPIType.OBJECT,
    required=["code", "detail"],
    properties={"code": Schema(type=OpenAPIType.STRING), "detail": Schema(type=OpenAPIType.STRING)},
)

#: (source operation, its status, target operation, parameters, request body): the values are
#: OpenAPI runtime expressions; a request body is merged into the generated one. A few links
#: each, along the way a campaign goes (create, publish, claim, reserve, commit, refund), so
#: that a client following them at random still gets to the end.
_Link = tuple[str, str, str, dict[str, str], dict[str, Any] | None]
_CAMPAIGN = {"path.campaign_id": "$response.body#/id"}
_SAME_CAMPAIGN = {"path.campaign_id": "$request.path.campaign_id"}
_ORDER = {"path.order_id": "$response.body#/order_id"}


def _coupon_links(source: str, status: str, pointer: str, targets: tuple[str, ...]) -> list[_Link]:
    code = {"path.code": f"$response.body#{pointer}/code"}
    member = f"$response.body#{pointer}/member_id"
    cart = {"member_id": member, "coupon_codes": [f"$response.body#{pointer}/code"]}
    links: dict[str, _Link] = {
        "getCoupon": (source, status, "getCoupon", code, None),
        "transferPath": (source, status, "transferPath", code, None),
        "transferCoupon": (source, status, "transferCoupon", code, {"from_member_id": member}),
        "revokeCoupon": (source, status, "revokeCoupon", code, None),
        "reissueCoupon": (source, status, "reissueCoupon", code, None),
        "memberCoupons": (source, status, "memberCoupons", {"path.member_id": member}, None),
        "quoteCart": (source, status, "quoteCart", {}, cart),
        "reserveRedemption": (source, status, "reserveRedemption", {}, cart),
    }
    return [links[target] for target in targets]


_LINKS: list[_Link] = [
    *[
        ("createCampaign", "201", target, _CAMPAIGN, None)
        for target in ("publishCampaign", "updateCampaign")
    ],
    ("updateCampaign", "200", "publishCampaign", _CAMPAIGN, None),
    *[
        ("publishCampaign", "200", target, _CAMPAIGN, None)
        for target in (
            "claimCoupon",
            "grantCoupons",
            "campaignLink",
            "changeStock",
            "pauseCampaign",
        )
    ],
    ("pauseCampaign", "200", "resumeCampaign", _CAMPAIGN, None),
    ("pauseCampaign", "200", "closeCampaign", _CAMPAIGN, None),
    ("resumeCampaign", "200", "claimCoupon", _CAMPAIGN, None),
    ("changeStock", "200", "claimCoupon", _SAME_CAMPAIGN, None),
    ("changeStock", "200", "getCampaign", _SAME_CAMPAIGN, None),
    ("campaignLink", "200", "claimCoupon", _SAME_CAMPAIGN, {"token": "$response.body#/token"}),
    ("campaignLink", "200", "campaignQrSvg", _SAME_CAMPAIGN, None),
    ("campaignLink", "200", "campaignQrPng", _SAME_CAMPAIGN, None),
    *_coupon_links(
        "claimCoupon",
        "201",
        "",
        ("reserveRedemption", "quoteCart", "transferCoupon", "getCoupon", "revokeCoupon"),
    ),
    *_coupon_links(
        "grantCoupons", "200", "/granted/0", ("reserveRedemption", "memberCoupons", "reissueCoupon")
    ),
    *_coupon_links("transferCoupon", "201", "", ("transferPath", "quoteCart")),
    *[
        ("reserveRedemption", "201", target, _ORDER, None)
        for target in ("commitRedemption", "cancelRedemption", "getRedemption")
    ],
    ("commitRedemption", "200", "refundRedemption", _ORDER, None),
    ("commitRedemption", "200", "getRedemption", _ORDER, None),
    *[
        ("putMember", "200", target, {"path.member_id": "$response.body#/member_id"}, None)
        for target in ("getMember", "memberCoupons")
    ],
]


def openapi_config() -> OpenAPIConfig:
    """The document's header: title, version, where it is served, the Bearer scheme."""
    return OpenAPIConfig(
        title="Redemption gateway",
        version="1",
        path="/schema",
        # A route's docstring is its operation's description: one text for readers of the code
        # and of the document.
        use_handler_docstrings=True,
        render_plugins=[OfflineSwagger()],
        components=Components(
            security_schemes={
                SCHEME: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description=(
                        "An API key made with `gateway keys create --role ROLE`. Each operation "
                        "lists the roles it admits as its requirement's scopes."
                    ),
                )
            }
        ),
        security=[{SCHEME: []}],
    )


def _operations(app: Litestar) -> dict[str, Operation]:
    operations: dict[str, Operation] = {}
    for path_item in (app.openapi_schema.paths or {}).values():
        for method in ("get", "put", "post", "delete", "patch"):
            operation = getattr(path_item, method)
            if operation is not None and operation.operation_id:
                operations[operation.operation_id] = operation
    return operations


def _operation(app: Litestar, path: str, method: str) -> Operation | None:
    path_item = (app.openapi_schema.paths or {}).get(path)
    return None if path_item is None else getattr(path_item, method.lower(), None)


def document_security(app: Litestar) -> None:
    """On start-up: each operation's roles and 401/403."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for opt, method in [(h.opt, m) for h in route.route_handlers for m in h.http_methods]:
            operation = _operation(app, route.path_format, method)
            if operation is None:
                continue
            roles = opt.get("roles")
            if roles is None:
                operation.security = []
                continue
            operation.security = [{SCHEME: list(roles)}]
            responses = operation.responses if operation.responses is not None else {}
            for status, text in (
                ("401", "unauthorized: no key, or an unknown one"),
                ("403", f"forbidden: the key's role is not one of {', '.join(roles)}"),
            ):
                responses.setdefault(
                    status,
                    OpenAPIResponse(
                        description=text,
                        content={"application/json": OpenAPIMediaType(schema=_ERROR)},
                    ),
                )
            operation.responses = responses


def _request_types() -> list[type[Struct]]:
    found: list[type[Struct]] = []
    pending: list[type[Struct]] = [Struct]
    while pending:
        kind = pending.pop()
        found.append(kind)
        pending.extend(kind.__subclasses__())
    return found


def document_request_bodies(app: Litestar) -> None:
    """On start-up: the request bodies' schemas as msgspec states them, the types that decode
    the requests. Litestar's own drop what msgspec checks inside lists (the pattern of each
    `member_ids` item), write integer bounds as floats (so generated stock is `940.0`, a 400)
    and leave out that unknown fields are refused (`wire.Struct`)."""
    _, definitions = msgspec.json.schema_components(
        _request_types()[1:], ref_template="#/components/schemas/{name}"
    )
    components: dict[str, Any] = app.openapi_schema.components.schemas
    components.update(definitions)


def document_links(app: Litestar) -> None:
    """On start-up: the links between operations (those whose both ends are served)."""
    operations = _operations(app)
    for source, status, target, parameters, body in _LINKS:
        origin = operations.get(source)
        if origin is None or target not in operations or origin.responses is None:
            continue
        response = origin.responses.get(status)
        if not isinstance(response, OpenAPIResponse):
            continue
        links = response.links if response.links is not None else {}
        links[target] = Link(operation_id=target, parameters=parameters or None, request_body=body)
        response.links = links
