"""One message catalogue for every page: Chinese first, English second.

`MESSAGES[id]` holds the `zh` and `en` text of one message; templates call `t("id")` (a Jinja
global that reads the page's language from the template context), Python calls `text(id,
lang)`. Placeholders are `str.format` fields: `t("claim.remaining", n=12)`. The member's pages
and the back office share the catalogue; each keeps its ids in its own block, prefixed
(`claim.`, `wallet.`, `console.`).
"""

from __future__ import annotations

from typing import Any, Literal

from jinja2 import pass_context
from jinja2.runtime import Context

Language = Literal["zh", "en"]

MESSAGES: dict[str, dict[str, str]] = {
    # --- shared by every page --------------------------------------------------------------
    "site.name": {"zh": "优惠券", "en": "Coupons"},
    "site.lang": {"zh": "zh-CN", "en": "en"},
    "site.error": {"zh": "出错了，请稍后再试", "en": "Something went wrong; please try again"},
    "site.loading": {"zh": "加载中…", "en": "Loading…"},
    # --- the member's pages: claim (gateway/pages/claim.py) --------------------------------
    # --- the member's pages: wallet (gateway/pages/wallet.py) ------------------------------
    # --- the back office (/console) --------------------------------------------------------
}


def language(accept_language: str | None) -> Language:
    """Chinese unless the `Accept-Language` header prefers English to Chinese.

    The header's languages are weighed by their `q` values (1 when absent); the first language
    the pages speak wins, ties going to the one listed first.
    """
    best: tuple[float, int, Language] | None = None
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in ("zh", "en"):
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        lang: Language = "en" if primary == "en" else "zh"
        if best is None or (q, -position) > (best[0], best[1]):
            best = (q, -position, lang)
    return best[2] if best is not None else "zh"


def text(message_id: str, lang: Language, **fields: Any) -> str:
    """The message in `lang` (Chinese when it has no English), its fields filled in.
    An unknown id shows itself, so a missing message is visible on the page, not a crash."""
    entry = MESSAGES.get(message_id)
    if entry is None:
        return message_id
    template = entry.get(lang) or entry["zh"]
    return template.format(**fields) if fields else template


def messages(prefixes: tuple[str, ...], lang: Language) -> dict[str, str]:
    """The messages whose ids start with one of `prefixes`, in `lang`: for a page's script,
    handed over in a `data-` attribute (the CSP allows no inline script)."""
    return {
        key: entry.get(lang) or entry["zh"]
        for key, entry in MESSAGES.items()
        if key.startswith(prefixes)
    }


@pass_context
def _t(context: Context, message_id: str, **fields: Any) -> str:
    lang = context.get("lang")
    if lang not in ("zh", "en"):
        request = context.get("request")
        lang = language(request.headers.get("accept-language") if request is not None else None)
    return text(message_id, lang, **fields)


def register(engine: Any) -> None:
    """The template engine's callback (`TemplateConfig.engine_callback`): `t` as a global and
    a filter (`{{ t("claim.button") }}`, `{{ "claim.button" | t }}`)."""
    engine.engine.globals["t"] = _t
    engine.engine.filters["t"] = _t
