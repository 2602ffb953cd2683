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


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("", False),
    ],
)
def test_redis_cluster_reads_the_usual_spellings_of_yes_and_no(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool
) -> None:
    monkeypatch.setenv("GATEWAY_REDIS_CLUSTER", raw)
    assert Settings().redis_cluster is expected


def test_redis_cluster_unset_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWAY_REDIS_CLUSTER", raising=False)
    assert Settings().redis_cluster is False
    assert ("GATEWAY_REDIS_CLUSTER", "False") in describe()


@pytest.mark.parametrize("raw", ["on", "2", "maybe"])
def test_redis_cluster_of_another_word_stops_the_start_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("GATEWAY_REDIS_CLUSTER", raw)
    with pytest.raises(SystemExit, match="GATEWAY_REDIS_CLUSTER"):
        Settings()
