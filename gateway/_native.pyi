"""Type stub of the compiled Rust core, checked against the binary with `mypy.stubtest`."""

from typing import Any, ClassVar, Final, Literal, final

__all__ = [
    "COMPLETION_ALERT",
    "COMPLETION_COUPON",
    "COMPLETION_FAILED",
    "COMPLETION_LOG",
    "COMPLETION_REFUSED",
    "LEDGER_ACTIVE_KEY",
    "WRITE_COUPONS",
    "ClaimPipe",
    "Completion",
    "Quote",
    "__version__",
    "bucket_id",
    "bucket_of",
    "idem_key",
    "key_slot",
    "ledger_key",
    "members_key",
    "meta_key",
    "new_code",
    "new_codes",
    "normalize_code",
    "price_quote",
    "refusals_key",
]

__version__: str
#: The ledger's batch statement (ten arrays: code, campaign_id, member_id, claimed_ms, from_ms,
#: until_ms, channel, source, idem, actor), shared by the claim pipeline and recovery.
WRITE_COUPONS: str
#: Sorted set: slot name -> when a claim round trip last touched its stream.
LEDGER_ACTIVE_KEY: str

#: `Completion.kind`: the claim's coupon (`code`, `member_id`, `channel`, `*_ms`).
COMPLETION_COUPON: Final = 1
#: `Completion.kind`: the script refused the claim (`reason`).
COMPLETION_REFUSED: Final = 0
#: `Completion.kind`: Redis failed or no code could be made (`message`): the claim may retry.
COMPLETION_FAILED: Final = 2
#: `Completion.kind`: `campaign_id` reached low stock (`fired` & 1) / sold out (`fired` & 2).
COMPLETION_ALERT: Final = 3
#: `Completion.kind`: a line for the gateway's log (`message`).
COMPLETION_LOG: Final = 4

@final
class Completion:
    """One thing the claim pipeline finished; `kind` says which attributes mean something
    (the others are empty: "" or 0)."""

    @property
    def ticket(self) -> int: ...
    @property
    def kind(self) -> int: ...
    @property
    def code(self) -> str: ...
    @property
    def member_id(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def claimed_ms(self) -> int: ...
    @property
    def valid_from_ms(self) -> int: ...
    @property
    def valid_until_ms(self) -> int: ...
    @property
    def reason(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def campaign_id(self) -> str: ...
    @property
    def fired(self) -> int: ...

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
        cluster: bool = False,
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
        bucket: int = 0,
    ) -> None: ...
    def kick(self) -> None: ...
    def take(self) -> list[Completion]: ...
    def counters(self) -> tuple[int, int, int, int, int]: ...
    def inflight(self) -> list[str]: ...
    def stop(self) -> None: ...

def bucket_of(member_id: str, buckets: int) -> int: ...
def bucket_id(campaign_id: str, bucket: int) -> str: ...
def meta_key(slot: str) -> str: ...
def members_key(slot: str) -> str: ...
def ledger_key(slot: str) -> str: ...
def refusals_key(slot: str) -> str: ...
def idem_key(slot: str, key: str) -> str: ...
def key_slot(key: str) -> int: ...
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
