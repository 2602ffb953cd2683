"""The security headers of every page (the member's pages, the back office, static files).

No inline script or style and no third-party origin: every script and style sheet is a file
under `gateway/static/`, so a campaign name or member id that slipped past the template
engine's escaping still could not run. Use `PAGE_HEADERS` as a router's or controller's
`response_headers`; `secure(response)` sets the same on a response built by hand.
"""

from __future__ import annotations

from typing import TypeVar

from litestar import Response
from litestar.datastructures import ResponseHeader

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
#: The API docs page (/schema/swagger): Litestar's Swagger plugin starts the UI with an inline
#: script and style, so its page allows inline code (still no other origin: the UI's assets
#: are vendored under /static/vendor/swagger-ui).
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

PAGE_HEADERS: list[ResponseHeader] = [
    ResponseHeader(name=name, value=value) for name, value in HEADERS.items()
]


R = TypeVar("R", bound=Response)  # type: ignore[type-arg]


def secure(response: R) -> R:
    """Sets the page headers on `response` (a Litestar `Response`) and returns it."""
    for name, value in HEADERS.items():
        response.headers[name] = value
    return response
