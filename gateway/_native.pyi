"""Type stub of the compiled Rust core, checked against the binary with `mypy.stubtest`."""

from typing import Any, Literal, final

__all__ = [
    "WRITE_COUPONS",
    "ClaimPipe",
    "Quote",
    "__version__",
    "_price_core_ns",
    "_price_lookup_floor",
    "_price_parse_only",
    "_price_quote_within",
    "new_code",
    "new_codes",
    "normalize_code",
    "price",
    "price_json",
    "price_many",
    "price_quote",
]

__version__: str
#: The ledger's batch statement (nine arrays: code, campaign_id, member_id, claimed_ms, from_ms,
#: until_ms, channel, source, idem), shared by the claim pipeline and recovery.
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
    ) -> None: ...
    def kick(self) -> None: ...
    def take(self) -> list[tuple[Any, ...]]: ...
    def counters(self) -> tuple[int, int, int, int, int]: ...
    def inflight(self) -> list[str]: ...
    def stop(self) -> None: ...

def new_code() -> str: ...
def new_codes(count: int) -> list[str]: ...
def normalize_code(text: str, /) -> str: ...

# Pricing (issue 4): request and quote dicts as in docs/PRICING.md; bad input is a ValueError
# naming the field. `_price_*` serve the benchmark only.
def price(request: dict[str, Any], /) -> dict[str, Any]: ...
def price_many(requests: list[dict[str, Any]], /) -> list[dict[str, Any]]: ...
def price_quote(request: dict[str, Any], /) -> Quote: ...

@final
class Quote:
    """A priced cart (`price_quote`): totals as attributes, lists built on first read."""

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

def price_json(request: bytes, /) -> bytes: ...
def _price_parse_only(request: dict[str, Any], /) -> None: ...
def _price_quote_within(request: dict[str, Any], work_budget: int, /) -> Quote: ...
def _price_core_ns(request: dict[str, Any], iterations: int, /) -> int: ...
def _price_lookup_floor(request: dict[str, Any], /) -> int: ...
