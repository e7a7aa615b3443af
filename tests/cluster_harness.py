"""A real cluster for tests: Debian's redis-server and ``python -m mock_server --redis``
node processes on 127.0.0.1 free ports.  Each process logs to a file; the fixture prints
the logs at teardown, which pytest shows only when the test failed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import redis

from mock_server.cluster.local_redis import free_port, start_redis

LEASE_MS = int(os.environ.get("ZEGO_CLUSTER_LEASE_MS", "2000"))


@dataclass
class Node:
    node_id: str
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, its leases are left to expire."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(5)


@dataclass
class Cluster:
    tmp: Path
    redis_port: int = field(default_factory=free_port)
    redis_proc: subprocess.Popen[bytes] | None = None
    nodes: list[Node] = field(default_factory=list)

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def redis(self) -> redis.Redis:
        return redis.Redis(port=self.redis_port, socket_timeout=2)

    def start_redis(self) -> None:
        self.redis_proc = start_redis(self.redis_port, self.tmp / "redis.log")

    def stop_redis(self) -> None:
        assert self.redis_proc is not None
        self.redis_proc.terminate()
        self.redis_proc.wait(5)

    def start_node(self, node_id: str, *extra: str) -> Node:
        node = Node(node_id, free_port(), self.tmp / f"{node_id}.log")
        node.proc = subprocess.Popen(
            [sys.executable, "-m", "mock_server", "--port", str(node.port),
             "--redis", self.redis_url, "--node-id", node_id, "--lease-ms", str(LEASE_MS),
             "--log-level", "INFO", *extra],
            stdout=open(node.log, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.nodes.append(node)
        return node

    async def ready(self) -> None:
        """Every node serves and has registered in Redis."""
        r = self.redis()
        async with asyncio.timeout(20):
            while not all(r.exists(f"node:{n.node_id}") for n in self.nodes
                          if n.proc is not None and n.proc.poll() is None):
                await asyncio.sleep(0.05)

    def keys(self) -> list[str]:
        """Everything Redis holds (SCAN), node keys aside."""
        return sorted(k.decode() for k in self.redis().scan_iter(count=1000)
                      if not k.startswith(b"node:"))

    def owner(self, key: str) -> str | None:
        value = self.redis().get(key)
        return value.decode() if value is not None else None

    def close(self) -> None:
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.terminate()
        for node in self.nodes:
            if node.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    node.proc.wait(5)
                if node.proc.poll() is None:
                    node.proc.kill()
        if self.redis_proc is not None and self.redis_proc.poll() is None:
            self.redis_proc.terminate()
            self.redis_proc.wait(5)

    def print_logs(self) -> None:
        for path in sorted(self.tmp.glob("*.log")):
            print(f"----- {path} (last 60 lines)", file=sys.stderr)
            print("\n".join(path.read_text(errors="replace").splitlines()[-60:]),
                  file=sys.stderr)
