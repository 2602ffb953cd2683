"""The claim route in the OpenAPI document.

The claim handler is a raw ASGI route (see `claims/controllers.py`), which Litestar leaves out
of the generated document; this adds the operation, with its body, answers and refusals.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.openapi.spec import (
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Parameter,
    PathItem,
    Reference,
    RequestBody,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIType

PATH = "/v1/campaigns/{campaign_id}/claims"
_ERROR = Schema(
    type=OpenAPIType.OBJECT,
    required=["code", "detail"],
    properties={"code": Schema(type=OpenAPIType.STRING), "detail": Schema(type=OpenAPIType.STRING)},
)


def _json(schema: Schema | Reference, description: str) -> OpenAPIResponse:
    return OpenAPIResponse(
        description=description, content={"application/json": OpenAPIMediaType(schema=schema)}
    )


def claim_operation() -> Operation:
    # `ClaimRequest`, the type that decodes the body (`gateway.openapi.document_request_bodies`
    # puts it in the components)
    body = Reference(ref="#/components/schemas/ClaimRequest")
    return Operation(
        operation_id="claimCoupon",
        tags=["claims"],
        summary="ClaimCoupon",
        description=(
            "Claims one coupon for a member: the flash-sale hot path. Roles: front, clerk, admin. "
            "A 201 is a promise: the coupon is in the durable ledger (or will be after any crash)."
        ),
        parameters=[
            Parameter(
                name="campaign_id",
                param_in="path",
                required=True,
                schema=Schema(type=OpenAPIType.STRING),
            ),
            Parameter(
                name="Idempotency-Key",
                param_in="header",
                required=False,
                schema=Schema(type=OpenAPIType.STRING, min_length=1, max_length=128),
                description="same key and body → the same coupon; other body → 409",
            ),
        ],
        request_body=RequestBody(
            content={"application/json": OpenAPIMediaType(schema=body)}, required=True
        ),
        responses={
            "201": _json(Reference(ref="#/components/schemas/Coupon"), "the coupon"),
            "400": _json(_ERROR, "invalid_request: the field is named in detail"),
            "401": _json(_ERROR, "unauthorized"),
            "403": _json(
                _ERROR, "forbidden, invalid_token (also: no token for a link_only campaign)"
            ),
            "404": _json(_ERROR, "campaign_not_found"),
            "409": _json(
                _ERROR,
                "not_live, not_started, ended, sold_out, limit_reached, idempotency_mismatch",
            ),
            "413": _json(_ERROR, "request_too_large"),
            "429": OpenAPIResponse(
                description=(
                    "rate_limited: the member is over GATEWAY_CLAIM_RATE_PER_MEMBER; "
                    "Retry-After says in how many seconds"
                ),
                headers={"Retry-After": OpenAPIHeader(schema=Schema(type=OpenAPIType.INTEGER))},
                content={"application/json": OpenAPIMediaType(schema=_ERROR)},
            ),
            "503": _json(_ERROR, "ledger_unavailable (retry with the same Idempotency-Key)"),
        },
    )


def document_claim_route(app: Litestar) -> None:
    """On start-up: adds the claim operation to the app's OpenAPI document."""
    schema = app.openapi_schema
    if schema.paths is not None:
        schema.paths[PATH] = PathItem(post=claim_operation())
