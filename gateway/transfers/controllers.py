"""HTTP routes of transfers and transfer paths."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from gateway.auth.services import actor
from gateway.coupons.schemas import Coupon
from gateway.http import check_idempotency_key
from gateway.transfers.schemas import TransferPath, TransferRequest
from gateway.transfers.services import TransferService
from gateway.wire import decode

FRONT = {"roles": ("front", "admin")}


def _service(state: State) -> TransferService:
    service: TransferService = state.transfers
    return service


class TransferController(Controller):
    path = "/v1/coupons"
    tags = ["coupons"]  # noqa: RUF012 - Litestar reads a plain list

    @post("/{code:str}/transfer", operation_id="transferCoupon", opt=FRONT, status_code=201)
    async def transfer(
        self,
        request: Request[Any, Any, Any],
        state: State,
        code: FromPath[str],
        data: JSONBody[TransferRequest],
    ) -> Response[Coupon]:
        """Gives a coupon to a registered member (转赠), once: 201 the recipient's new coupon
        (`transferred_from` set, `transferable: false`); the old code turns `transferred`.
        Refusals: `coupon_not_found` 404, `not_owner` 403, `not_transferable` 409,
        `not_active` 409 (also when its validity has ended), `recipient_not_registered` 422,
        `same_member` 422. Optional Idempotency-Key: a retry gets the first answer."""
        body = decode(await request.body(), TransferRequest)
        key = check_idempotency_key(request.headers.get("idempotency-key"))
        status, encoded = await _service(state).transfer(code, body, actor(request), key)
        return Response(
            encoded,  # type: ignore[arg-type]  # pre-encoded bytes
            status_code=status,
            media_type="application/json",
        )

    @get("/{code:str}/path", operation_id="transferPath", opt=FRONT)
    async def path_of(self, state: State, code: FromPath[str]) -> TransferPath:
        """The whole transfer chain that `code` belongs to, oldest first."""
        return await _service(state).path(code)
