"""Wire types of transfers."""

from __future__ import annotations

from gateway.coupons.schemas import Coupon
from gateway.wire import Id, Out, Struct


class TransferRequest(Struct):
    from_member_id: Id
    to_member_id: Id


class TransferPath(Out):
    """Every coupon of a transfer chain, oldest first: the claimed coupon, then each code it
    was given on as (`transferred_from` names the one before)."""

    code: str
    path: list[Coupon]
