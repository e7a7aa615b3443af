"""Which addresses aiortc gathers ICE candidates on, per peer connection.

Two aiortc/aioice defaults make loopback calls impossible and leak traffic to the
internet (docs/aiortc-internals.md):

- ``aioice.ice.get_host_addresses()`` leaves out 127.0.0.1 and gathers every other
  interface, so a call pinned to loopback finds no candidate;
- ``RTCPeerConnection`` contacts ``stun:stun.l.google.com`` when ``iceServers`` is None.

A TURN server (``setTurnServer``) is one more entry of ``iceServers``; aiortc uses only
the first ``turn:``/``turns:`` URL it is given, and ``iceTransportPolicy="relay"``
(aiortc 1.16's RTCConfiguration, passed to aioice's ``TransportPolicy.RELAY``) gathers
the relayed candidate alone: no host candidate, so media cannot bypass the relay.

aioice reads host addresses from a module-level function with no per-connection
option, so we replace it once with one that consults a ContextVar, set around
``setLocalDescription`` (which gathers in the calling task).  Code that never sets the
variable gets aioice's own behaviour.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer, RTCIceTransportPolicy, RTCPeerConnection

__all__ = ["TRANSPORT_POLICIES", "gathering_on", "new_peer_connection",
           "selected_candidate_types", "turn_config"]

TRANSPORT_POLICIES = ("all", "relay")

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


def new_peer_connection(ice_servers: Sequence[dict[str, object]] | None = None,
                        transport_policy: str = "all") -> RTCPeerConnection:
    """A peer connection that contacts no STUN/TURN server unless given one;
    ``transport_policy`` "relay" pairs relayed (TURN) candidates only."""
    servers = [
        RTCIceServer(
            urls=str(s["urls"]) if not isinstance(s["urls"], list) else [str(u) for u in s["urls"]],
            username=s.get("username"),  # type: ignore[arg-type]
            credential=s.get("credential"),  # type: ignore[arg-type]
        )
        for s in (ice_servers or [])
    ]
    return RTCPeerConnection(RTCConfiguration(
        iceServers=servers, iceTransportPolicy=RTCIceTransportPolicy(transport_policy)))


def selected_candidate_types(pc: RTCPeerConnection) -> list[tuple[str, str]]:
    """(local, remote) candidate types of each transport's nominated ICE pair (one
    transport per peer here: BUNDLE), e.g. ("relay", "host") through a TURN server.

    aiortc's getStats() has no candidate-pair report, so this reads aioice's
    ``Connection._nominated`` through the transports (docs/aiortc-internals.md).
    """
    types: list[tuple[str, str]] = []
    seen: set[int] = set()  # bundled transceivers (audio and video) share one transport
    for transceiver in pc.getTransceivers():
        dtls = transceiver.sender.transport or transceiver.receiver.transport
        if dtls is None or id(dtls) in seen:
            continue
        seen.add(id(dtls))
        connection = dtls.transport.iceGatherer._connection
        for pair in connection._nominated.values():
            types.append((pair.local_candidate.type, pair.remote_candidate.type))
    return types


def turn_config(config: object) -> tuple[list[dict[str, Any]], str | None]:
    """setTurnServer's argument as (ICE servers, transport policy or None).

    ``config`` is a list of servers, or ``{"iceServers": [...], "iceTransportPolicy":
    "all" | "relay"}`` (RTCConfiguration's names).  A server is ``{"urls" (or ZEGO's
    "url"): "turn:host:port" or a list of them, "username", "credential"}``.
    Raises ValueError naming what is wrong.
    """
    policy: str | None = None
    servers: object = config
    if isinstance(config, dict):
        servers = config.get("iceServers")
        policy = config.get("iceTransportPolicy")
        if policy is not None and policy not in TRANSPORT_POLICIES:
            raise ValueError(f"iceTransportPolicy is one of {TRANSPORT_POLICIES}")
    if not isinstance(servers, list) or not servers:
        raise ValueError("give a non-empty list of TURN servers")
    checked: list[dict[str, Any]] = []
    for server in servers:
        if not isinstance(server, dict):
            raise ValueError("each TURN server is a dict with urls, username, credential")
        urls = server.get("urls", server.get("url"))
        url_list = urls if isinstance(urls, list) else [urls]
        if not url_list or not all(isinstance(u, str) and u.startswith(("turn:", "turns:"))
                                   for u in url_list):
            raise ValueError(f"TURN URLs start with turn: or turns: (got {urls!r})")
        checked.append({"urls": url_list, "username": str(server.get("username", "")),
                        "credential": str(server.get("credential", ""))})
    return checked, policy
