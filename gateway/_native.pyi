"""Type stub of the compiled Rust core, checked against the binary with `mypy.stubtest`."""

from typing import Any

__all__ = [
    "__version__",
    "_price_core_ns",
    "_price_parse_only",
    "new_code",
    "new_codes",
    "normalize_code",
    "price",
    "price_json",
    "price_many",
]

__version__: str

def new_code() -> str: ...
def new_codes(count: int) -> list[str]: ...
def normalize_code(text: str, /) -> str: ...

# Pricing (issue 4): request and quote dicts as in docs/PRICING.md; bad input is a ValueError
# naming the field. `_price_*` serve the benchmark only.
def price(request: dict[str, Any], /) -> dict[str, Any]: ...
def price_many(requests: list[dict[str, Any]], /) -> list[dict[str, Any]]: ...
def price_json(request: bytes, /) -> bytes: ...
def _price_parse_only(request: dict[str, Any], /) -> None: ...
def _price_core_ns(request: dict[str, Any], iterations: int, /) -> int: ...
