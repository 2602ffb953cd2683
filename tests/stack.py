"""An isolated stack for destructive tests: its own Redis and Postgres (scripts/services.sh with
a data dir and ports of its own) and a gateway served by granian in a subprocess.

Under `GATEWAY_REDIS_CLUSTER=1` (the cluster half of `make test`) its Redis is a Redis Cluster of
its own (scripts/cluster.sh: six nodes on a free block of ports), and the gateway runs in cluster
mode: stopping "Redis" stops every node."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import redis.asyncio as redis

from gateway.settings import get_settings
from gateway.store.redis import create_client

ROOT = Path(__file__).resolve().parent.parent


def free_port(avoid: frozenset[int] = frozenset()) -> int:
    """A port free now, not one of `avoid` (ports a stack will bind later, which the OS may
    still hand out: a cluster's bus ports, say)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in avoid:
            return port
    raise RuntimeError("no free port outside the stack's own")


def free_cluster_ports(count: int = 6) -> int:
    """The first of `count` consecutive free ports whose cluster bus ports (port - 10000, as
    scripts/cluster.sh sets them) are free too."""
    for _ in range(200):
        base = free_port()
        if not 20000 <= base <= 65535 - count:
            continue
        try:
            for port in range(base, base + count):
                for p in (port, port - 10000):
                    with socket.socket() as s:
                        s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return base
    raise RuntimeError("no block of free ports for a Redis Cluster")


class Stack:
    def __init__(self, name: str, cluster: bool | None = None) -> None:
        """`cluster`: a Redis Cluster of the stack's own whatever GATEWAY_REDIS_CLUSTER says
        (True), a single Redis (False), or as GATEWAY_REDIS_CLUSTER says (None)."""
        self.data = ROOT / ".data" / f"stack-{name}-{os.getpid()}"
        self.cluster = get_settings().redis_cluster if cluster is None else cluster
        self.redis_port = free_cluster_ports() if self.cluster else free_port()
        # The cluster's nodes and their bus ports (port - 10000) are bound only when it starts:
        # the other ports must not be among them (a gateway once got a bus port and could not
        # listen).
        nodes = range(self.redis_port, self.redis_port + (6 if self.cluster else 1))
        taken = frozenset(nodes) | frozenset(p - 10000 for p in nodes)
        self.pg_port = free_port(taken)
        self.http_port = free_port(taken | {self.pg_port})
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.database_url = f"postgresql://gateway@127.0.0.1:{self.pg_port}/gateway"
        self.gateway: subprocess.Popen[bytes] | None = None
        self.base_url = f"http://127.0.0.1:{self.http_port}"

    def _services_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env.update(
            GATEWAY_DATA_DIR=str(self.data),
            GATEWAY_LOCAL_REDIS_PORT=str(self.redis_port),
            GATEWAY_LOCAL_PG_PORT=str(self.pg_port),
        )
        if self.cluster:  # services.sh leaves Redis alone; cluster.sh runs the nodes
            env.update(
                GATEWAY_REDIS_URL=self.redis_url, GATEWAY_CLUSTER_BASE_PORT=str(self.redis_port)
            )
        return env

    def services(self, action: str) -> None:
        scripts = ["services.sh", "cluster.sh"] if self.cluster else ["services.sh"]
        for script in scripts if action != "stop" else reversed(scripts):
            subprocess.run(
                [str(ROOT / "scripts" / script), action],
                env=self._services_env(),
                check=True,
                capture_output=True,
            )

    def cluster_sh(self, action: str) -> None:
        """scripts/cluster.sh start|stop on the stack's cluster (`start` brings back the nodes
        that are down, reusing their data: a killed master rejoins as a replica)."""
        subprocess.run(
            [str(ROOT / "scripts" / "cluster.sh"), action],
            env=self._services_env(),
            check=True,
            capture_output=True,
        )

    def redis_client(self) -> redis.Redis:
        """A client of the stack's Redis (a cluster client on a cluster)."""
        return create_client(self.redis_url, cluster=self.cluster)

    def gateway_env(self, **settings: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env.update(
            GATEWAY_REDIS_URL=self.redis_url,
            GATEWAY_DATABASE_URL=self.database_url,
            GATEWAY_PORT=str(self.http_port),
            GATEWAY_LOG_LEVEL="WARNING",
        )
        if self.cluster:
            env.update(GATEWAY_REDIS_CLUSTER="1")
        env.update({f"GATEWAY_{k.upper()}": v for k, v in settings.items()})
        return env

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "gateway", *args],
            env=self.gateway_env(),
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout.strip()

    def start_gateway(self, **settings: str) -> None:
        """A gateway on the stack; one a failed test left running is killed first (two would
        share the stack, and the first's Popen would be collected while it runs)."""
        self.kill_gateway()
        self.gateway = serve(self.gateway_env(**settings), self.data / "gateway.log")
        wait_ready(self.gateway, self.base_url, self.data / "gateway.log", 60)

    def kill_gateway(self) -> None:
        """kill -9 of the server and its workers: no clean shutdown of anything."""
        if self.gateway is not None:
            with contextlib.suppress(ProcessLookupError):  # it had exited (failed to start)
                os.killpg(self.gateway.pid, signal.SIGKILL)
            self.gateway.wait()
            self.gateway = None

    def stop_gateway(self) -> None:
        if self.gateway is not None:
            os.killpg(self.gateway.pid, signal.SIGTERM)
            try:
                self.gateway.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill_gateway()
            self.gateway = None

    def pg_ctl(self, action: str) -> None:
        pg_bin = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
        command = [str(pg_bin / "pg_ctl"), "-D", str(self.data / "pg"), "-w", "-m", "fast", action]
        if action in ("start", "restart"):  # a log file, or the server holds our stdout pipe
            command += ["-l", str(self.data / "pg" / "server.log")]
        if os.getuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True)

    def stop_redis(self) -> None:
        """Shuts Redis down (its AOF keeps what it acknowledged), leaving Postgres up."""
        if self.cluster:
            subprocess.run(
                [str(ROOT / "scripts" / "cluster.sh"), "stop"],
                env=self._services_env(),
                check=True,
                capture_output=True,
            )
            return
        subprocess.run(
            ["redis-cli", "-p", str(self.redis_port), "shutdown"], check=False, capture_output=True
        )

    def destroy(self) -> None:
        self.kill_gateway()
        try:
            self.services("stop")
        finally:
            shutil.rmtree(self.data, ignore_errors=True)


def serve(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """`python -m gateway serve` in a session of its own, its output appended to `log_path`."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )


def wait_ready(
    process: subprocess.Popen[bytes], base_url: str, log_path: Path, within_s: float
) -> None:
    """Returns once the gateway at `base_url` answers /readyz 200; raises if it exits first or
    is not ready within `within_s` seconds."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited; see {log_path}")
        time.sleep(0.2)
    raise RuntimeError(f"the gateway at {base_url} did not become ready")
