"""A real TURN server for tests: Debian's coturn (``turnserver``) on 127.0.0.1 only.

Started per test on a free port with one static long-term user, no TLS/DTLS/TCP, no
CLI, no config file (``-n``), relaying to loopback peers only, and killed at the end
(``timeout`` bounds it even if the test process dies).  Its verbose log reports each
allocation's traffic when the allocation ends, which the tests read as proof that
media went through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TurnServer", "free_udp_port", "running_coturn", "turnserver_available"]

USER, PASSWORD, REALM = "zego", "turn-secret", "zego.test"
# Above Linux's ephemeral range (32768-60999), so relay ports rarely meet a busy one.
RELAY_PORTS = (61000, 61999)
LIFETIME_S = 120
# coturn -v, when an allocation ends, per session: "usage: ..." (client <-> coturn) and
# "peer usage: realm=<r>, username=<u>, rp=.., rb=.., sp=.., sb=.." (coturn <-> the peers
# it relays to: packets/bytes received from and sent to them).
_PEER_USAGE = re.compile(r"peer usage: realm=<[^>]*>, username=<([^>]*)>, rp=(\d+), "
                         r"rb=(\d+), sp=(\d+), sb=(\d+)")


def turnserver_available() -> bool:
    return shutil.which("turnserver") is not None


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TurnServer:
    port: int
    log_path: Path

    @property
    def ice_server(self) -> dict[str, str]:
        return {"urls": f"turn:127.0.0.1:{self.port}?transport=udp", "username": USER,
                "credential": PASSWORD}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def peer_packets(self) -> list[tuple[int, int]]:
        """(received from peer, sent to peer) packets of each ended allocation of USER."""
        return [(int(m[1]), int(m[3])) for m in _PEER_USAGE.findall(self.log()) if m[0] == USER]


@contextlib.asynccontextmanager
async def running_coturn(tmp_path: Path) -> AsyncIterator[TurnServer]:
    port = free_udp_port()
    log_path = tmp_path / "turnserver.log"
    with log_path.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            "timeout", str(LIFETIME_S), "turnserver", "-n", "-v", "--log-file", "stdout",
            "--simple-log", "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1",
            "--listening-port", str(port), "--min-port", str(RELAY_PORTS[0]),
            "--max-port", str(RELAY_PORTS[1]), "--no-cli", "--no-tls", "--no-dtls",
            "--no-tcp", "--no-tcp-relay", "--no-rfc5780", "--allow-loopback-peers",
            "--lt-cred-mech", "--user", f"{USER}:{PASSWORD}", "--realm", REALM,
            "--fingerprint", "--max-allocate-lifetime", str(LIFETIME_S),
            "--pidfile", str(tmp_path / "turnserver.pid"),
            stdout=log_file, stderr=asyncio.subprocess.STDOUT)
        server = TurnServer(port, log_path)
        try:
            for _ in range(100):  # ready when its UDP listener is open
                if "UDP listener opened on: 127.0.0.1" in server.log():
                    break
                if proc.returncode is not None:
                    raise RuntimeError(f"turnserver exited: {server.log()[-2000:]}")
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError(f"turnserver did not start: {server.log()[-2000:]}")
            yield server
        finally:
            if proc.returncode is None:
                proc.terminate()  # `timeout` passes SIGTERM on to turnserver
            await asyncio.wait_for(proc.wait(), 10)
