"""Points multipliers per cart line: pure, no I/O (the programme's `points.multipliers`).

A line earns with the largest multiplier among the rules whose every condition holds for it,
never their product; 1 when none does. The rules are compiled once per programme version
(`compile_rules`) so that pricing a cart only compares integers and looks up sets; the local
date is computed only when a rule asks for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Protocol

import msgspec

from gateway.programme.schemas import Multiplier
from gateway.wire import to_ms


class Line(Protocol):
    """What a rule reads of a cart line."""

    @property
    def sku(self) -> str: ...

    @property
    def category(self) -> str: ...


class Rule(msgspec.Struct, frozen=True, kw_only=True):
    """A multiplier rule as pricing reads it: instants in ms since the epoch, lists as sets,
    None for a condition that is absent (any)."""

    multiplier: int
    birthday_month: bool = False
    day_of_month: int | None = None
    starts_ms: int | None = None
    ends_ms: int | None = None
    skus: frozenset[str] | None = None
    categories: frozenset[str] | None = None
    stores: frozenset[str] | None = None
    channels: frozenset[str] | None = None


def _set(values: Sequence[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


def compile_rules(multipliers: Sequence[Multiplier]) -> tuple[Rule, ...]:
    """The rules of `points.multipliers`, as pricing reads them."""
    return tuple(
        Rule(
            multiplier=m.multiplier,
            birthday_month=bool(m.when.birthday_month),
            day_of_month=m.when.day_of_month,
            starts_ms=None if m.when.starts_at is None else to_ms(m.when.starts_at),
            ends_ms=None if m.when.ends_at is None else to_ms(m.when.ends_at),
            skus=_set(m.when.skus),
            categories=_set(m.when.categories),
            stores=_set(m.when.stores),
            channels=_set(m.when.channels),
        )
        for m in multipliers
    )


def line_multipliers(
    rules: Sequence[Rule],
    lines: Sequence[Line],
    *,
    channel: str,
    store_id: str | None,
    birthday: str | None,
    now_ms: int,
    zone: tzinfo,
) -> list[int] | None:
    """Each line's points multiplier (1..10), or None when there are no rules at all.

    `birthday` is the member's "MM-DD" (None: unknown, so no birthday month); the month and the
    day of the month are read in `zone` at `now_ms`.
    """
    if not rules:
        return None
    today: datetime | None = None
    cart_rules: list[Rule] = []  # the rules whose conditions on the cart and the time hold
    for rule in rules:
        if rule.starts_ms is not None and now_ms < rule.starts_ms:
            continue
        if rule.ends_ms is not None and now_ms >= rule.ends_ms:
            continue
        if rule.channels is not None and channel not in rule.channels:
            continue
        if rule.stores is not None and store_id not in rule.stores:
            continue
        if rule.birthday_month or rule.day_of_month is not None:
            if today is None:
                today = datetime.fromtimestamp(now_ms // 1000, zone)
            if rule.birthday_month and (birthday is None or int(birthday[:2]) != today.month):
                continue
            if rule.day_of_month is not None and rule.day_of_month != today.day:
                continue
        cart_rules.append(rule)
    if not cart_rules:
        return [1] * len(lines)
    multipliers: list[int] = []
    for line in lines:
        multiplier = 1
        for rule in cart_rules:
            if (
                rule.multiplier > multiplier
                and (rule.skus is None or line.sku in rule.skus)
                and (rule.categories is None or line.category in rule.categories)
            ):
                multiplier = rule.multiplier
        multipliers.append(multiplier)
    return multipliers
