"""Type stub of the compiled Rust core, checked against the binary with `mypy.stubtest`."""

from typing import Any, ClassVar, Literal, final

__all__ = [
    "WRITE_COUPONS",
    "ClaimPipe",
    "Quote",
    "__version__",
    "new_code",
    "new_codes",
    "normalize_code",
    "price_quote",
]

__version__: str
#: The ledger's batch statement (ten arrays: code, campaign_id, member_id, claimed_ms, from_ms,
#: until_ms, channel, source, idem, actor), shared by the claim pipeline and recovery.
WRITE_COUPONS: str

@final
class ClaimPipe:
    """The claim path's Redis and Postgres client work, on threads of its own (claimpipe)."""

    def __new__(
        cls,
        *,
        redis_url: str,
        database_url: str,
        script_sha: str,
        script_source: str,
        idempotency_ttl_s: int,
        wait_for_ledger: bool,
        writers: int,
        batch_max: int,
        wake_fd: int,
    ) -> ClaimPipe: ...
    def submit(
        self,
        ticket: int,
        campaign_id: str,
        grant: bool,
        member_id: str,
        channel: str,
        idem: str,
        idem_hash: str,
        now_ms: int,
        actor: str,
    ) -> None: ...
    def kick(self) -> None: ...
    def take(self) -> list[tuple[Any, ...]]: ...
    def counters(self) -> tuple[int, int, int, int, int]: ...
    def inflight(self) -> list[str]: ...
    def stop(self) -> None: ...

def new_code() -> str: ...
def new_codes(count: int) -> list[str]: ...
def normalize_code(text: str, /) -> str: ...

# Pricing: the request dict as in docs/PRICING.md; bad input is a ValueError naming the field.
# `work_budget` is for the tests of the bounded search. (The benchmark's entry points exist only
# in a build with `--features bench`, and are not stubbed here.)
def price_quote(request: dict[str, Any], /, *, work_budget: int = ...) -> Quote: ...

@final
class Quote:
    """A priced cart (`price_quote`): totals as attributes, lists built on first read.

    The wire fields are `FIELDS`, the fields of `gateway.checkout.schemas.Quote` in its order
    (tests/native/test_pricing_quote.py checks the two and this stub).
    """

    FIELDS: ClassVar[tuple[str, ...]]

    @property
    def subtotal(self) -> int: ...
    @property
    def member_discount(self) -> int: ...
    @property
    def coupon_discount(self) -> int: ...
    @property
    def total(self) -> int: ...
    @property
    def points_earned(self) -> int: ...
    @property
    def search(self) -> Literal["exact", "bounded"]:
        """`exact`: the best set; `bounded`: the search stopped at its work budget."""
    @property
    def work(self) -> int:
        """The engine's work on this cart in line operations (deterministic, budgeted)."""
    @property
    def member_lines(self) -> list[dict[str, Any]]: ...
    @property
    def applied(self) -> list[dict[str, Any]]: ...
    @property
    def rejected(self) -> list[dict[str, str]]: ...
    @property
    def applied_codes(self) -> tuple[str, ...]: ...
    def all_apply(self) -> bool: ...
    def to_dict(self) -> dict[str, Any]: ...
    def to_json(self) -> bytes: ...
