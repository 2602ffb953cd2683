"""Points multipliers per line (gateway/programme/multipliers.py): the largest matching rule,
never a product; the local month and day in Asia/Shanghai across the turn of a month and year;
and, over many programmes and carts, the same answer as a plain reading of the rules."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from gateway.programme.multipliers import compile_rules, line_multipliers
from gateway.programme.schemas import Multiplier, MultiplierWhen
from gateway.wire import zone

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Line(msgspec.Struct, frozen=True):
    sku: str
    category: str


LINES = [Line("A", "tops"), Line("B", "outerwear"), Line("C", "shoes")]


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def rule(multiplier: int, **when: Any) -> Multiplier:
    return Multiplier(name=f"x{multiplier}", multiplier=multiplier, when=MultiplierWhen(**when))


def multipliers(
    rules: list[Multiplier],
    lines: list[Line] = LINES,
    *,
    channel: str = "online",
    store_id: str | None = None,
    birthday: str | None = None,
    now_ms: int | None = None,
) -> list[int] | None:
    return line_multipliers(
        compile_rules(rules),
        lines,
        channel=channel,
        store_id=store_id,
        birthday=birthday,
        now_ms=ms("2026-06-18T12:00:00+08:00") if now_ms is None else now_ms,
        zone=SHANGHAI,
    )


def test_no_rules_leave_the_request_as_it_was() -> None:
    assert multipliers([]) is None


def test_no_matching_rule_is_one_per_line() -> None:
    assert multipliers([rule(3, categories=["bags"])]) == [1, 1, 1]


def test_the_largest_matching_multiplier_wins_never_the_product() -> None:
    rules = [
        rule(2, day_of_month=18),
        rule(3, categories=["outerwear"]),
        rule(2, skus=["C"], birthday_month=True),
    ]
    assert multipliers(rules, birthday="06-30") == [2, 3, 2]


def test_every_condition_of_a_rule_must_hold() -> None:
    both = rule(4, skus=["A", "B"], categories=["tops"])
    assert multipliers([both]) == [4, 1, 1]  # B is a listed sku but not a listed category
    in_store = rule(5, channels=["store"], stores=["s-1"])
    assert multipliers([in_store], channel="store", store_id="s-1") == [5, 5, 5]
    assert multipliers([in_store], channel="store", store_id="s-2") == [1, 1, 1]
    assert multipliers([in_store], channel="online", store_id="s-1") == [1, 1, 1]
    assert multipliers([rule(5, stores=["s-1"])], store_id=None) == [1, 1, 1]


def test_a_window_holds_from_its_start_until_before_its_end() -> None:
    season = rule(
        3,
        starts_at=datetime.fromisoformat("2026-09-01T00:00:00+08:00"),
        ends_at=datetime.fromisoformat("2026-10-01T00:00:00+08:00"),
    )
    start, end = ms("2026-09-01T00:00:00+08:00"), ms("2026-10-01T00:00:00+08:00")
    assert multipliers([season], now_ms=start - 1) == [1, 1, 1]
    assert multipliers([season], now_ms=start) == [3, 3, 3]
    assert multipliers([season], now_ms=end - 1) == [3, 3, 3]
    assert multipliers([season], now_ms=end) == [1, 1, 1]


def test_the_birthday_month_needs_a_birthday() -> None:
    assert multipliers([rule(2, birthday_month=True)], birthday=None) == [1, 1, 1]
    assert multipliers([rule(2, birthday_month=True)], birthday="06-01") == [2, 2, 2]
    assert multipliers([rule(2, birthday_month=True)], birthday="07-18") == [1, 1, 1]


def test_the_month_and_the_day_turn_at_local_midnight_in_shanghai() -> None:
    # 2027-01-01T00:00+08:00 is 2026-12-31T16:00Z: in UTC it is still December 31.
    new_year = ms("2027-01-01T00:00:00+08:00")
    first = [rule(2, day_of_month=1)]
    last = [rule(2, day_of_month=31)]
    assert multipliers(first, now_ms=new_year - 1) == [1, 1, 1]
    assert multipliers(first, now_ms=new_year) == [2, 2, 2]
    assert multipliers(last, now_ms=new_year - 1) == [2, 2, 2]
    assert multipliers(last, now_ms=new_year) == [1, 1, 1]
    birthday = [rule(2, birthday_month=True)]
    assert multipliers(birthday, birthday="12-31", now_ms=new_year - 1) == [2, 2, 2]
    assert multipliers(birthday, birthday="12-31", now_ms=new_year) == [1, 1, 1]
    assert multipliers(birthday, birthday="01-01", now_ms=new_year - 1) == [1, 1, 1]
    assert multipliers(birthday, birthday="01-01", now_ms=new_year) == [2, 2, 2]
    # A day 31 never comes in a 30-day month; February 29 comes in a leap year.
    assert multipliers(last, now_ms=ms("2026-06-30T12:00:00+08:00")) == [1, 1, 1]
    leap = [rule(2, day_of_month=29)]
    assert multipliers(leap, now_ms=ms("2028-02-29T00:00:00+08:00")) == [2, 2, 2]


def test_the_gateway_zone_is_shanghai_by_default() -> None:
    assert datetime(2026, 1, 1, tzinfo=zone()).utcoffset() == timedelta(hours=8)


# -- properties -------------------------------------------------------------------------------

SKUS = ["A", "B", "C"]
CATEGORIES = ["tops", "outerwear", "shoes"]
STORES = ["s-1", "s-2"]
#: Instants around the turns of months and years (and a leap day), in Shanghai.
BASE = datetime(2026, 1, 1, tzinfo=SHANGHAI)


def month_start_ms(months: int, offset_ms: int) -> int:
    """`offset_ms` from local midnight of the first day of the `months`-th month after BASE."""
    start = datetime(2026 + months // 12, months % 12 + 1, 1, tzinfo=SHANGHAI)
    return int(start.timestamp() * 1000) + offset_ms


instants = st.one_of(
    st.integers(ms("2025-12-25T00:00:00+08:00"), ms("2029-01-05T00:00:00+08:00")),
    st.builds(month_start_ms, st.integers(0, 36), st.integers(-2000, 2000)),
)
windows = st.tuples(st.integers(0, 3 * 366 * 86400), st.integers(1, 200 * 86400)).map(
    lambda w: (BASE + timedelta(seconds=w[0]), BASE + timedelta(seconds=w[0] + w[1]))
)


@st.composite
def rules_(draw: st.DrawFn) -> Multiplier:
    when: dict[str, Any] = {}
    if draw(st.booleans()):
        when["birthday_month"] = draw(st.booleans())
    if draw(st.booleans()):
        when["day_of_month"] = draw(st.integers(1, 31))
    if draw(st.booleans()):
        when["starts_at"], when["ends_at"] = draw(windows)
    for field, pool in (("skus", SKUS), ("categories", CATEGORIES), ("stores", STORES)):
        if draw(st.booleans()):
            when[field] = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
    if draw(st.booleans()):
        when["channels"] = draw(
            st.lists(st.sampled_from(["online", "store"]), min_size=1, max_size=2)
        )
    return rule(draw(st.integers(1, 10)), **when)


carts = st.fixed_dictionaries(
    {
        "lines": st.lists(
            st.builds(Line, st.sampled_from(SKUS), st.sampled_from(CATEGORIES)), max_size=6
        ),
        "channel": st.sampled_from(["online", "store"]),
        "store_id": st.one_of(st.none(), st.sampled_from(STORES)),
        "birthday": st.one_of(
            st.none(), st.builds("{:02d}-{:02d}".format, st.integers(1, 12), st.integers(1, 28))
        ),
        "now_ms": instants,
    }
)


def plainly(rules: list[Multiplier], cart: dict[str, Any]) -> list[int]:
    """The rules read as API.md says them, with aware datetimes and no compilation."""
    now = datetime.fromtimestamp(cart["now_ms"] / 1000, UTC)
    local = now.astimezone(SHANGHAI)

    def holds(w: MultiplierWhen, line: Line) -> bool:
        return (
            (not w.birthday_month or (cart["birthday"] or "").startswith(f"{local.month:02d}-"))
            and (w.day_of_month is None or w.day_of_month == local.day)
            and (w.starts_at is None or w.starts_at <= now)
            and (w.ends_at is None or now < w.ends_at)
            and (w.skus is None or line.sku in w.skus)
            and (w.categories is None or line.category in w.categories)
            and (w.stores is None or cart["store_id"] in w.stores)
            and (w.channels is None or cart["channel"] in w.channels)
        )

    return [
        max([r.multiplier for r in rules if holds(r.when, line)], default=1)
        for line in cart["lines"]
    ]


@given(st.lists(rules_(), min_size=1, max_size=8), carts)
def test_each_line_gets_the_largest_multiplier_of_the_rules_that_hold(
    rules: list[Multiplier], cart: dict[str, Any]
) -> None:
    assert multipliers(rules, **cart) == plainly(rules, cart)


@given(st.lists(rules_(), min_size=1, max_size=8), rules_(), carts, st.randoms())
def test_order_does_not_matter_and_another_rule_never_lowers_a_line(
    rules: list[Multiplier], extra: Multiplier, cart: dict[str, Any], rnd: random.Random
) -> None:
    before = multipliers(rules, **cart)
    assert before is not None
    assert all(m == 1 or m in {r.multiplier for r in rules} for m in before)
    shuffled = rules[:]
    rnd.shuffle(shuffled)
    assert multipliers(shuffled, **cart) == before
    after = multipliers([*rules, extra], **cart)
    assert after is not None
    assert all(a >= b for a, b in zip(after, before, strict=True))
