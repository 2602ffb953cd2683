"""TLS to Redis (`rediss://`) and to Postgres (`sslmode=`), and passwords with URL-special
characters, on both halves of the gateway: the Python side (redis-py, asyncpg) and the claim
pipeline (`gateway._native.ClaimPipe`, whose Redis and Postgres connections are its own).

The servers are throwaway: a CA and a server certificate made with the `openssl` CLI, a
`redis-server` listening on a TLS port only, and the Postgres of an isolated stack
(tests/stack.py) switched to `ssl = on` with `hostssl` the only way in (a plain connection is
refused, so a client that silently skipped TLS could not pass). Both servers require the password
`p@ss:w/rd%`, percent-encoded in the URLs.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import asyncpg
import httpx
import pytest
import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.store.postgres import create_pool
from gateway.store.redis import create_client
from tests.conftest import campaign_body, unique
from tests.stack import Stack, free_port

PASSWORD = "p@ss:w/rd%"
SECRET = quote(PASSWORD, safe="")  # p%40ss%3Aw%2Frd%25


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(where: Path) -> None:
    """ca.crt, and server.crt/server.key for 127.0.0.1 and localhost signed by it (EC keys)."""
    where.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=gateway test CA",
        cwd=where,
    )
    openssl(
        "req",
        *ec,
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
        cwd=where,
    )
    (where / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        cwd=where,
    )


@dataclass
class Tls:
    stack: Stack
    certs: Path
    redis_port: int

    @property
    def ca(self) -> str:
        return str(self.certs / "ca.crt")

    def redis_url(self, query: str = "ssl_cert_reqs=none") -> str:
        return f"rediss://:{SECRET}@127.0.0.1:{self.redis_port}/0?{query}"

    def database_url(self, sslmode: str = "require") -> str:
        return f"postgresql://gateway:{SECRET}@127.0.0.1:{self.stack.pg_port}/gateway?sslmode={sslmode}"


def start_tls_redis(certs: Path, data: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--tls-port",
            str(port),
            "--tls-cert-file",
            str(certs / "server.crt"),
            "--tls-key-file",
            str(certs / "server.key"),
            "--tls-ca-cert-file",
            str(certs / "ca.crt"),
            "--tls-auth-clients",
            "no",
            "--requirepass",
            PASSWORD,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(data),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ping = [
        "redis-cli",
        "-p",
        str(port),
        "--tls",
        "--cacert",
        str(certs / "ca.crt"),
        "--no-auth-warning",
        "-a",
        PASSWORD,
        "ping",
    ]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if subprocess.run(ping, capture_output=True, text=True).stdout.strip() == "PONG":
            return server, port
        if server.poll() is not None:
            raise RuntimeError("redis-server with TLS exited (built without TLS?)")
        time.sleep(0.1)
    server.kill()
    raise RuntimeError("redis-server with TLS did not answer")


def postgres_tls_only(stack: Stack, certs: Path) -> None:
    """`ssl = on` with the test certificate; `hostssl` + password the only entry over TCP."""
    pg = stack.data / "pg"
    for name in ("server.crt", "server.key"):
        shutil.copy(certs / name, pg / name)
        (pg / name).chmod(0o600)  # Postgres reads a key only its own user can
        if os.getuid() == 0:
            shutil.chown(pg / name, user="postgres")
    psql = [
        "psql",
        "-h",
        "127.0.0.1",
        "-p",
        str(stack.pg_port),
        "-U",
        "gateway",
        "-d",
        "postgres",
        "-qc",
    ]
    for statement in (
        "ALTER SYSTEM SET ssl = on",
        "ALTER SYSTEM SET ssl_cert_file = 'server.crt'",
        "ALTER SYSTEM SET ssl_key_file = 'server.key'",
        "ALTER SYSTEM SET password_encryption = 'scram-sha-256'",
        f"ALTER ROLE gateway PASSWORD '{PASSWORD}'",
    ):
        subprocess.run([*psql, statement], check=True, capture_output=True)
    (pg / "pg_hba.conf").write_text(
        "hostssl all all 127.0.0.1/32 scram-sha-256\nhostnossl all all 127.0.0.1/32 reject\n"
    )
    stack.pg_ctl("restart")


@pytest.fixture(scope="module")
def tls() -> Iterator[Tls]:
    stack = Stack("tls")
    stack.cluster = False  # a single TLS Redis, whatever the suite runs on
    stack.services("start")
    certs = stack.data / "certs"
    make_certs(certs)
    postgres_tls_only(stack, certs)
    server, port = start_tls_redis(certs, stack.data)
    env = Tls(stack, certs, port)
    stack.redis_url = env.redis_url()
    stack.database_url = env.database_url()
    try:
        stack.cli("migrate")
        yield env
    finally:
        server.kill()
        server.wait()
        stack.destroy()


# -- the Python side -------------------------------------------------------------------------


@pytest.mark.parametrize("verify", ["none", "ca"])
async def test_the_python_redis_client_talks_tls_with_a_percent_encoded_password(
    tls: Tls, verify: str
) -> None:
    query = (
        "ssl_cert_reqs=none"
        if verify == "none"
        else f"ssl_cert_reqs=required&ssl_ca_certs={tls.ca}"
    )
    client = create_client(tls.redis_url(query), cluster=False)
    try:
        key = unique("tls")
        await client.set(key, "yes")
        assert await client.get(key) == b"yes"
    finally:
        await client.aclose()


async def test_the_python_redis_client_checks_the_certificate_when_asked(tls: Tls) -> None:
    """Verification is on with ssl_cert_reqs=required: the system CAs do not know the test CA."""
    client = create_client(tls.redis_url("ssl_cert_reqs=required"), cluster=False)
    try:
        with pytest.raises(RedisConnectionError, match="certificate verify failed"):
            await client.ping()
    finally:
        await client.aclose()


async def test_plain_redis_and_postgres_connections_are_refused(tls: Tls) -> None:
    """The servers speak TLS only: a client that skipped it could not pass the tests here."""
    plain = redis.Redis.from_url(f"redis://:{SECRET}@127.0.0.1:{tls.redis_port}/0")
    try:
        with pytest.raises(RedisConnectionError):
            await plain.ping()
    finally:
        await plain.aclose()
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError, match="no encryption"):
        await asyncpg.connect(tls.database_url("disable"))


@pytest.mark.parametrize("sslmode", ["require", "verify-full"])
async def test_the_python_postgres_pool_talks_tls_with_a_percent_encoded_password(
    tls: Tls, sslmode: str
) -> None:
    url = tls.database_url(sslmode)
    if sslmode == "verify-full":
        url += f"&sslrootcert={tls.ca}"
    pool = await create_pool(url, 2)
    try:
        assert await pool.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"), (
            "the connection is not encrypted"
        )
    finally:
        await pool.close()


# -- both halves: a gateway served on the TLS servers ------------------------------------------


def start_gateway(tls: Tls, redis_url: str, durability: str = "ledger") -> None:
    tls.stack.redis_url = redis_url
    try:
        tls.stack.start_gateway(claim_durability=durability)
    except RuntimeError as error:
        log = (tls.stack.data / "gateway.log").read_text(errors="replace")[-3000:]
        raise AssertionError(
            f"the gateway did not start on rediss:// + sslmode=require ({error}); the claim "
            f"pipeline (gateway._native.ClaimPipe) must speak TLS. Its log ends:\n{log}"
        ) from None


async def claim_through_the_pipeline(tls: Tls) -> None:
    """A claim answered 201 after its ledger commit: the pipeline's Redis script and its
    Postgres write both went over TLS (the servers take nothing else)."""
    admin = {"Authorization": f"Bearer {tls.stack.cli('keys', 'create', '--role', 'admin')}"}
    async with httpx.AsyncClient(base_url=tls.stack.base_url, timeout=10) as http:
        created = await http.post("/v1/campaigns", json=campaign_body(stock=5), headers=admin)
        assert created.status_code == 201, created.text
        campaign_id = created.json()["id"]
        published = await http.post(f"/v1/campaigns/{campaign_id}/publish", headers=admin)
        assert published.status_code == 200, published.text
        members = [unique() for _ in range(3)]
        for member in members:
            claimed = await http.post(
                f"/v1/campaigns/{campaign_id}/claims",
                json={"member_id": member, "channel": "online"},
                headers={**admin, "Idempotency-Key": unique("k")},
            )
            assert claimed.status_code == 201, claimed.text
        read = await http.get(f"/v1/campaigns/{campaign_id}", headers=admin)
        assert read.status_code == 200, read.text
        assert read.json()["stats"]["remaining"] == 2
    conn = await asyncpg.connect(tls.database_url())
    try:
        rows = await conn.fetch("SELECT member_id FROM coupons WHERE campaign_id = $1", campaign_id)
    finally:
        await conn.close()
    assert sorted(r["member_id"] for r in rows) == sorted(members)


@pytest.mark.parametrize("verify", ["none", "ca"])
async def test_a_gateway_claims_over_tls_to_redis_and_postgres(tls: Tls, verify: str) -> None:
    query = (
        "ssl_cert_reqs=none"
        if verify == "none"
        else f"ssl_cert_reqs=required&ssl_ca_certs={tls.ca}"
    )
    start_gateway(tls, tls.redis_url(query))
    try:
        await claim_through_the_pipeline(tls)
    finally:
        tls.stack.stop_gateway()


async def test_redis_durability_reaches_the_ledger_over_tls(tls: Tls) -> None:
    """With claim_durability=redis the 201 comes before the ledger: the coupons still arrive."""
    start_gateway(tls, tls.redis_url(), durability="redis")
    try:
        admin = {"Authorization": f"Bearer {tls.stack.cli('keys', 'create', '--role', 'admin')}"}
        async with httpx.AsyncClient(base_url=tls.stack.base_url, timeout=10) as http:
            created = await http.post("/v1/campaigns", json=campaign_body(stock=5), headers=admin)
            campaign_id = created.json()["id"]
            assert (
                await http.post(f"/v1/campaigns/{campaign_id}/publish", headers=admin)
            ).status_code == 200
            claimed = await http.post(
                f"/v1/campaigns/{campaign_id}/claims",
                json={"member_id": unique(), "channel": "online"},
                headers={**admin, "Idempotency-Key": unique("k")},
            )
            assert claimed.status_code == 201, claimed.text
        conn = await asyncpg.connect(tls.database_url())
        try:
            for _ in range(100):
                code = await conn.fetchval(
                    "SELECT code FROM coupons WHERE campaign_id = $1", campaign_id
                )
                if code is not None:
                    break
                await asyncio.sleep(0.1)
        finally:
            await conn.close()
        assert code == claimed.json()["code"]
    finally:
        tls.stack.stop_gateway()
