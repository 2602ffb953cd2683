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
#: The ledger's batch statement, shared by the claim pipeline and recovery.
WRITE_COUPONS = _native.WRITE_COUPONS
#: The one pricing entry (quote and reserve alike): the request dict in (docs/PRICING.md), a
#: native `Quote` out: totals as attributes, the lists built only when read, `to_json()` the
#: checkout quote's JSON, `to_dict()` the same as a dict. Bad input is a ValueError naming the
#: field.
price_quote = _native.price_quote
Quote = _native.Quote

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
