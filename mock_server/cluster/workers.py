"""``python -m mock_server --workers N``: N node processes on one machine, one port each.

Python runs one event loop on one core, so N cores need N processes.  Each node gets a
port of its own (PORT, PORT+1, ...) rather than sharing one with SO_REUSEPORT: a room
lives on one node, and a redirect must reach that node, which a shared port (the kernel
picks the process) cannot promise.  Without --redis, a local redis-server is started on
a free loopback port and stopped with the nodes.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import sys
import time
from types import FrameType

from .local_redis import free_port, start_redis

__all__ = ["run_workers"]

# options passed through to every node, unchanged
_PASSED = ("app_id", "server_secret", "max_users_per_room", "max_peers_per_address",
           "log_level", "advertise_host", "lease_ms")


def node_command(args: argparse.Namespace, index: int, port: int, redis_url: str) -> list[str]:
    cmd = [sys.executable, "-m", "mock_server", "--host", args.host, "--port", str(port),
           "--redis", redis_url, "--node-id", f"{args.node_id or 'node'}{index}"]
    for name in _PASSED:
        value = getattr(args, name)
        if value is not None:
            cmd += [f"--{name.replace('_', '-')}", str(value)]
    for address in args.media_address or ():
        cmd += ["--media-address", address]
    for origin in args.allow_origin or ():
        cmd += ["--allow-origin", origin]
    return cmd


def run_workers(args: argparse.Namespace) -> None:
    """Run the nodes until SIGINT/SIGTERM or until one of them exits."""
    redis_proc: subprocess.Popen[bytes] | None = None
    redis_url = args.redis
    if redis_url is None:
        port = free_port()
        redis_proc = start_redis(port)
        redis_url = f"redis://127.0.0.1:{port}/0"
        print(f"local redis-server on {redis_url} (pid {redis_proc.pid})", flush=True)
    ports = ([free_port() for _ in range(args.workers)] if args.port == 0
             else [args.port + i for i in range(args.workers)])
    nodes = [subprocess.Popen(node_command(args, i, p, redis_url))
             for i, p in enumerate(ports)]
    for i, node in enumerate(nodes):
        print(f"node {i} pid {node.pid} port {ports[i]}", flush=True)
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print(f"zego_py cluster: {args.workers} nodes on ports {', '.join(map(str, ports))}",
          flush=True)
    try:
        while not stopping and all(n.poll() is None for n in nodes):
            time.sleep(0.2)
    finally:
        for node in nodes:
            if node.poll() is None:
                node.terminate()
        for node in nodes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.wait(5)
            if node.poll() is None:
                node.kill()
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(5)
