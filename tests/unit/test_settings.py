"""Settings: defaults that follow other settings."""

from __future__ import annotations

import pytest

from gateway.settings import Settings, describe, served_url


def test_public_url_defaults_to_the_host_and_port_served(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_PUBLIC_URL", raising=False)
    monkeypatch.setenv("GATEWAY_HOST", "127.0.0.1")
    monkeypatch.setenv("GATEWAY_PORT", "8123")
    assert Settings().public_url == "http://127.0.0.1:8123"
    assert ("GATEWAY_PUBLIC_URL", "http://127.0.0.1:8123") in describe()


def test_public_url_of_a_wildcard_or_ipv6_host_is_one_a_browser_can_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GATEWAY_PUBLIC_URL", raising=False)
    monkeypatch.setenv("GATEWAY_PORT", "9000")
    monkeypatch.setenv("GATEWAY_HOST", "0.0.0.0")  # noqa: S104 - a setting, nothing is bound
    assert Settings().public_url == "http://127.0.0.1:9000"
    monkeypatch.setenv("GATEWAY_HOST", "::1")
    assert Settings().public_url == "http://[::1]:9000"
    assert served_url("gateway.internal", 80) == "http://gateway.internal:80"


def test_public_url_set_explicitly_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PORT", "8123")
    monkeypatch.setenv("GATEWAY_PUBLIC_URL", "https://mall.example/coupons")
    assert Settings().public_url == "https://mall.example/coupons"
    assert Settings(public_url="https://other.example").public_url == "https://other.example"
