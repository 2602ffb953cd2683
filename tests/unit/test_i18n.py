"""The pages' language: Chinese unless Accept-Language prefers English."""

from __future__ import annotations

from gateway.i18n import MESSAGES, language


def test_chinese_by_default_english_when_preferred() -> None:
    assert language(None) == "zh"
    assert language("") == "zh"
    assert language("fr-FR,fr;q=0.9") == "zh"
    assert language("en-US,en;q=0.9") == "en"
    assert language("zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert language("en;q=0.5,zh;q=0.9") == "zh"
    assert language("fr,en;q=0.8,zh;q=0.7") == "en"
    assert language("en;q=0,zh-TW") == "zh"
    assert language("en;q=bogus") == "zh"


def test_every_message_speaks_both_languages() -> None:
    for key, entry in MESSAGES.items():
        assert entry.get("zh") and entry.get("en"), key
