"""A throwaway local ``redis-server`` (Debian's package) for ``--workers`` and the tests.

No persistence (``--save "" --appendonly no``): a restart is an empty Redis, which is
what the nodes must survive anyway (they re-claim what they host).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["free_port", "start_redis", "wait_redis"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(port: int, log_path: Path | None = None) -> subprocess.Popen[bytes]:
    """Start redis-server on 127.0.0.1:``port`` and wait until it answers PING."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (scripts/install-system-deps.sh)")
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
         "--appendonly", "no", "--protected-mode", "yes"],
        stdout=out, stderr=subprocess.STDOUT)
    wait_redis(port)
    return proc


def wait_redis(port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server on port {port} did not start")
        time.sleep(0.05)
