"""Which addresses aiortc gathers ICE candidates on, per peer connection.

Two aiortc/aioice defaults make loopback calls impossible and leak traffic to the
internet (docs/aiortc-internals.md):

- ``aioice.ice.get_host_addresses()`` leaves out 127.0.0.1 and gathers every other
  interface, so a call pinned to loopback finds no candidate;
- ``RTCPeerConnection`` contacts ``stun:stun.l.google.com`` when ``iceServers`` is None.

aioice reads host addresses from a module-level function with no per-connection
option, so we replace it once with one that consults a ContextVar, set around
``setLocalDescription`` (which gathers in the calling task).  Code that never sets the
variable gets aioice's own behaviour.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

__all__ = ["gathering_on", "new_peer_connection"]

_host_addresses: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "zego_host_addresses", default=None
)
_aioice_get_host_addresses = aioice.ice.get_host_addresses


def _get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    pinned = _host_addresses.get()
    if pinned is None:
        return _aioice_get_host_addresses(use_ipv4, use_ipv6)
    return [a for a in pinned if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]


aioice.ice.get_host_addresses = _get_host_addresses


@contextmanager
def gathering_on(addresses: Sequence[str] | None) -> Iterator[None]:
    """Gather host candidates only on ``addresses`` (None: aioice's default) inside the block."""
    token = _host_addresses.set(tuple(addresses) if addresses is not None else None)
    try:
        yield
    finally:
        _host_addresses.reset(token)


def new_peer_connection(ice_servers: Sequence[dict[str, object]] | None = None
                        ) -> RTCPeerConnection:
    """A peer connection that contacts no STUN/TURN server unless given one."""
    servers = [
        RTCIceServer(
            urls=str(s["urls"]) if not isinstance(s["urls"], list) else [str(u) for u in s["urls"]],
            username=s.get("username"),  # type: ignore[arg-type]
            credential=s.get("credential"),  # type: ignore[arg-type]
        )
        for s in (ice_servers or [])
    ]
    return RTCPeerConnection(RTCConfiguration(iceServers=servers))
