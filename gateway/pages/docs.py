"""The API docs page (/schema/swagger) from vendored assets, so that it works offline.

Litestar's Swagger plugin loads the UI from a CDN by default; here its script and style sheet
come from `gateway/static/vendor/swagger-ui/` (swagger-ui-dist, Apache-2.0, see VERSION there).
The plugin starts the UI with an inline script, so the docs pages get their own CSP that
allows inline code but, like every page, no other origin.
"""

from __future__ import annotations

from litestar.datastructures import ResponseHeader
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.router import Router

from gateway.pages.security import DOCS_CONTENT_SECURITY_POLICY

VENDOR = "/static/vendor/swagger-ui"


class OfflineSwagger(SwaggerRenderPlugin):
    """Swagger UI served from /static, with the docs pages' security headers."""

    def __init__(self) -> None:
        super().__init__(
            js_url=f"{VENDOR}/swagger-ui-bundle.js",
            css_url=f"{VENDOR}/swagger-ui.css",
            standalone_preset_js_url=f"{VENDOR}/swagger-ui-standalone-preset.js",
            favicon="<link rel='icon' href='data:,'>",
        )

    def receive_router(self, router: Router) -> None:
        router.response_headers = [
            *(router.response_headers or []),
            ResponseHeader(name="Content-Security-Policy", value=DOCS_CONTENT_SECURITY_POLICY),
            ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
            ResponseHeader(name="Referrer-Policy", value="no-referrer"),
        ]
