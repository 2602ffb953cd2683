"""The only importer of the compiled Rust core, `gateway._native`.

When the module was not built the process stops at once with the command that builds it.
"""

from __future__ import annotations

try:
    from gateway import _native
except ImportError as exc:  # pragma: no cover - exercised by hand
    raise SystemExit(
        "gateway._native is not built: run `make build` (or `.venv/bin/maturin develop --release`)"
    ) from exc

__version__ = _native.__version__
new_code = _native.new_code
new_codes = _native.new_codes
normalize_code = _native.normalize_code
#: The claim path's Redis and Postgres client work on threads of its own (`native/src/claimpipe`).
ClaimPipe = _native.ClaimPipe
#: What `ClaimPipe.take()` returns, one per finished claim, alert or log line; its `kind` is one
#: of the `COMPLETION_*` constants.
Completion = _native.Completion
COMPLETION_COUPON = _native.COMPLETION_COUPON
COMPLETION_REFUSED = _native.COMPLETION_REFUSED
COMPLETION_FAILED = _native.COMPLETION_FAILED
COMPLETION_ALERT = _native.COMPLETION_ALERT
COMPLETION_LOG = _native.COMPLETION_LOG
#: Key names and stock buckets, defined once in `native/src/claimpipe/keys.rs` (re-exported by
#: `gateway.store.redis`): a bucket's slot name is `bucket_id(campaign_id, bucket)`.
bucket_of = _native.bucket_of
bucket_id = _native.bucket_id
meta_key = _native.meta_key
members_key = _native.members_key
ledger_key = _native.ledger_key
refusals_key = _native.refusals_key
idem_key = _native.idem_key
#: The Redis Cluster slot of a key (`CLUSTER KEYSLOT`).
key_slot = _native.key_slot
#: The ledger's batch statement, shared by the claim pipeline and recovery.
WRITE_COUPONS = _native.WRITE_COUPONS
#: The one pricing entry (quote and reserve alike): the request dict in (docs/PRICING.md), a
#: native `Quote` out: totals as attributes, the lists built only when read, `to_json()` the
#: checkout quote's JSON, `to_dict()` the same as a dict. Bad input is a ValueError naming the
#: field.
price_quote = _native.price_quote
Quote = _native.Quote

__all__ = [
    "COMPLETION_ALERT",
    "COMPLETION_COUPON",
    "COMPLETION_FAILED",
    "COMPLETION_LOG",
    "COMPLETION_REFUSED",
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
