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

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
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
from litestar.routes import ASGIRoute, HTTPRoute

from gateway.wire import Struct

SCHEME = "BearerAuth"

_ERROR = Schema(
    type=OpenAPIType.OBJECT,
    required=["code", "detail"],
    properties={"code": Schema(type=OpenAPIType.STRING), "detail": Schema(type=OpenAPIType.STRING)},
)

#: (source operation, its status, target operation, parameters, request body): the values are
#: OpenAPI runtime expressions; a request body is merged into the generated one.
_LINKS: list[tuple[str, str, str, dict[str, str], dict[str, Any] | None]] = []


def _link_from_campaign(source: str, status: str, id_expression: str) -> None:
    targets = (
        "getCampaign",
        "updateCampaign",
        "publishCampaign",
        "pauseCampaign",
        "resumeCampaign",
        "closeCampaign",
        "changeStock",
        "campaignLink",
        "campaignQrSvg",
        "campaignQrPng",
        "claimCoupon",
        "grantCoupons",
    )
    for target in targets:
        _LINKS.append((source, status, target, {"path.campaign_id": id_expression}, None))


def _link_from_coupon(source: str, status: str, pointer: str) -> None:
    code = f"$response.body#{pointer}/code"
    member = f"$response.body#{pointer}/member_id"
    for target in ("getCoupon", "transferPath"):
        _LINKS.append((source, status, target, {"path.code": code}, None))
    _LINKS.append(
        (source, status, "transferCoupon", {"path.code": code}, {"from_member_id": member})
    )
    _LINKS.append((source, status, "memberCoupons", {"path.member_id": member}, None))
    _LINKS.append((source, status, "getMember", {"path.member_id": member}, None))
    cart = {"member_id": member, "coupon_codes": [code]}
    _LINKS.append((source, status, "quoteCart", {}, cart))
    _LINKS.append((source, status, "reserveRedemption", {}, cart))


def _link_from_order(source: str, status: str) -> None:
    order = "$response.body#/order_id"
    targets = ("getRedemption", "commitRedemption", "cancelRedemption", "refundRedemption")
    for target in targets:
        _LINKS.append((source, status, target, {"path.order_id": order}, None))


for _source, _status in (
    ("createCampaign", "201"),
    ("getCampaign", "200"),
    ("updateCampaign", "200"),
    ("publishCampaign", "200"),
    ("pauseCampaign", "200"),
    ("resumeCampaign", "200"),
):
    _link_from_campaign(_source, _status, "$response.body#/id")
_LINKS.append(
    (
        "campaignLink",
        "200",
        "claimCoupon",
        {"path.campaign_id": "$request.path.campaign_id"},
        {"token": "$response.body#/token"},
    )
)
_link_from_campaign("changeStock", "200", "$request.path.campaign_id")
_link_from_coupon("claimCoupon", "201", "")
_link_from_coupon("transferCoupon", "201", "")
_link_from_coupon("getCoupon", "200", "")
_link_from_coupon("grantCoupons", "200", "/granted/0")
_link_from_order("reserveRedemption", "201")
_link_from_order("commitRedemption", "200")
_link_from_order("getRedemption", "200")
for _target in ("getMember", "memberCoupons"):
    _LINKS.append(
        ("putMember", "200", _target, {"path.member_id": "$response.body#/member_id"}, None)
    )


def openapi_config() -> OpenAPIConfig:
    """The document's header: title, version, where it is served, the Bearer scheme."""
    return OpenAPIConfig(
        title="Redemption gateway",
        version="1",
        path="/schema",
        render_plugins=[SwaggerRenderPlugin()],
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
    """On start-up, after the hand-documented routes: each operation's roles and 401/403."""
    for route in app.routes:
        handlers: list[tuple[dict[str, Any], str]]
        if isinstance(route, HTTPRoute):
            handlers = [(h.opt, m) for h in route.route_handlers for m in h.http_methods]
        elif isinstance(route, ASGIRoute):  # the raw routes are documented as POSTs
            handlers = [(route.route_handler.opt, "POST")]
        else:
            continue
        for opt, method in handlers:
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
    """On start-up: request bodies refuse unknown fields (`wire.Struct` forbids them), which
    Litestar's generated schemas do not say."""
    components = app.openapi_schema.components.schemas
    for kind in _request_types():
        component = components.get(kind.__name__)
        if isinstance(component, Schema) and component.properties is not None:
            component.additional_properties = False


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
