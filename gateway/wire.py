"""Shared wire types: the msgspec base, identifier and money constraints, decoding and times."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, tzinfo
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import msgspec

from gateway.errors import InvalidRequest
from gateway.settings import get_settings

T = TypeVar("T")

ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
_ID_RE = re.compile(ID_PATTERN)

#: member_id, sku, category, store_id, order_id: 1..64 of `[A-Za-z0-9_.:-]`.
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=ID_PATTERN)]
#: Money in cents; the contract's ceiling keeps every product inside 64 bits.
Cents = Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)]
PositiveCents = Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)]
#: Rates in basis points (1500 = 15% off).
BasisPoints = Annotated[int, msgspec.Meta(ge=1, le=10_000)]
Count = Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)]
#: Free text that is stored (names, reasons): any character but NUL, which Postgres `text` and
#: `jsonb` cannot hold (asyncpg raises, which was a 500).
TEXT_PATTERN = r"^[^\x00]*$"
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class Struct(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of every request body: unknown fields are refused, not ignored."""


class Out(msgspec.Struct, kw_only=True):
    """Base of every response body."""


encoder = msgspec.json.Encoder()
_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def decode(body: bytes, kind: type[T]) -> T:
    """Decodes a request body, turning every msgspec complaint into a 400 naming the field."""
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    try:
        return decoder.decode(body)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        raise InvalidRequest(_field_message(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}") from None


def _field_message(text: str) -> str:
    # msgspec says "Expected `int`, got `str` - at `$.stock`": lead with the field.
    message, sep, where = text.rpartition(" - at `")
    if not sep:
        return text
    field = where.rstrip("`").removeprefix("$.").removeprefix("$") or "body"
    return f"{field}: {message}"


def check_id(value: str, name: str) -> str:
    """Validates an identifier taken from a path."""
    if not _ID_RE.match(value):
        raise InvalidRequest(f"{name}: must be 1..64 characters of [A-Za-z0-9_.:-]")
    return value


def zone() -> tzinfo:
    name = get_settings().time_zone
    return UTC if name == "UTC" else ZoneInfo(name)


_ZONE: tzinfo | None = None


_SECONDS: dict[int, tuple[str, str]] = {}


def iso_ms(ms: int) -> str:
    """RFC 3339 with the gateway zone's offset, millisecond precision.

    The date, time and offset of each second are formatted once: a zoned `datetime` costs more
    than the rest of a coupon's encoding, and the claims of a second share theirs.
    """
    seconds, millis = divmod(ms, 1000)
    parts = _SECONDS.get(seconds)
    if parts is None:
        global _ZONE  # the zone is read once, lazily, after settings exist
        if _ZONE is None:
            _ZONE = zone()
        if len(_SECONDS) > 4096:
            _SECONDS.clear()
        text = datetime.fromtimestamp(seconds, _ZONE).isoformat()
        parts = _SECONDS[seconds] = (text[:19], text[19:])
    return f"{parts[0]}.{millis:03d}{parts[1]}"


def to_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def iso(value: datetime) -> str:
    return iso_ms(to_ms(value))


async def strict_body(request: Any, kind: type[T]) -> T:
    """Decodes the request body strictly ("5" is not a number).

    Litestar converts `data` leniently; routes keep their `data` parameter for the OpenAPI
    document and take the value from here instead.
    """
    return decode(await request.body(), kind)


def page_cursor(*parts: int | str) -> str:
    """An opaque cursor of a paged list: its place (`parts`, e.g. the last row's time and id)
    as base64url of `part:part:...`. The last part may hold ':'."""
    text = ":".join(str(part) for part in parts)
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def when(ms: int) -> datetime:
    """The UTC instant of epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, UTC)


def cursor_when(ms: int, field: str) -> datetime:
    """`when` of a time read from a cursor: one past the year 9999 (forged) is 400 naming
    `field`."""
    try:
        return when(ms)
    except (ValueError, OverflowError, OSError):
        raise InvalidRequest(f"{field}: not a cursor of this list") from None


def cursor_place(cursor: str, field: str, numbers: int, texts: int = 0) -> list[Any]:
    """The place a `page_cursor` stands for: `numbers` non-negative ints (up to 18 digits),
    then `texts` strings. Anything else (a forged, truncated or foreign cursor) is 400 naming
    `field`."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        text = ""
    parts = text.split(":", numbers + texts - 1) if text else []
    if len(parts) != numbers + texts or not all(
        p.isdigit() and p.isascii() and len(p) <= 18 for p in parts[:numbers]
    ):
        raise InvalidRequest(f"{field}: not a cursor of this list")
    if any(not p for p in parts[numbers:]):
        raise InvalidRequest(f"{field}: not a cursor of this list")
    return [int(p) for p in parts[:numbers]] + parts[numbers:]
