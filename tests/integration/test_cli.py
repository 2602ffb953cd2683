"""The `gateway` command as an operator runs it: `make run`'s demo, the installed script."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from gateway.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]


def run_gateway(*args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """`python -m gateway ARGS` against the test servers, with extra GATEWAY_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_REDIS_URL=get_settings().redis_url,
        GATEWAY_DATABASE_URL=get_settings().database_url,
    )
    env.update({f"GATEWAY_{k.upper()}": v for k, v in settings.items()})
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def printed(output: str, label: str) -> str:
    found = re.search(rf"^\s*{label}\s*:\s*(\S+)", output, re.MULTILINE)
    assert found, output
    return found.group(1)


def test_demo_prints_a_claim_link_for_the_port_actually_served() -> None:
    demo = run_gateway("demo", port="8123")
    assert demo.returncode == 0, demo.stderr
    link = httpx.URL(printed(demo.stderr, "claim link"))
    assert (link.scheme, link.host, link.port) == ("http", "127.0.0.1", 8123)
    campaign = printed(demo.stderr, "demo campaign")
    assert link.path == f"/claim/{campaign}" and link.params["token"]
    assert printed(demo.stderr, "API docs") == "http://127.0.0.1:8123/schema/swagger"
    assert printed(demo.stderr, "back office") == "http://127.0.0.1:8123/console"
    assert printed(demo.stderr, "admin key")


def test_demo_link_follows_an_explicit_public_url() -> None:
    demo = run_gateway("demo", port="8123", public_url="https://mall.example")
    assert demo.returncode == 0, demo.stderr
    assert printed(demo.stderr, "claim link").startswith("https://mall.example/claim/")


def test_settings_command_shows_the_derived_public_url() -> None:
    shown = run_gateway("settings", port="8123")
    assert shown.returncode == 0, shown.stderr
    assert "GATEWAY_PUBLIC_URL=http://127.0.0.1:8123" in shown.stdout.splitlines()
