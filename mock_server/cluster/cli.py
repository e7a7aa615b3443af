"""``python -m mock_server`` options for a cluster node (docs/cluster.md)."""

from __future__ import annotations

import argparse
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from ..server import RoomServer

__all__ = ["add_arguments", "membership"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("cluster (docs/cluster.md)")
    group.add_argument("--redis", default=None,
                       help="join the cluster coordinated by this Redis "
                            "(redis://127.0.0.1:6379/0)")
    group.add_argument("--node-id", default=None,
                       help="this node's unique name (default: hostname-port)")
    group.add_argument("--advertise-host", default=None,
                       help="host clients are redirected to for this node (default --host)")
    group.add_argument("--lease-ms", type=int, default=3000,
                       help="room/stream lease TTL: how long a dead node's rooms stay "
                            "unreachable (default 3000)")
    group.add_argument("--workers", type=int, default=0,
                       help="run N nodes on this machine, on ports PORT..PORT+N-1, with a "
                            "local redis-server unless --redis is given")


@contextlib.asynccontextmanager
async def membership(server: RoomServer, url: str, args: argparse.Namespace
                     ) -> AsyncIterator[str]:
    """Join the cluster when ``--redis`` is given; yields the URL clients should use."""
    if not args.redis:
        yield url
        return
    import redis.asyncio as aioredis

    from .node import ClusterNode

    parts = urlsplit(url)
    port = parts.port
    advertised = f"ws://{args.advertise_host or parts.hostname}:{port}/ws"
    node_id = args.node_id or f"{socket.gethostname()}-{port}"
    client = aioredis.from_url(args.redis, socket_timeout=1.0, socket_connect_timeout=1.0)
    node = ClusterNode(server, client, node_id, advertised, ttl_ms=args.lease_ms)
    try:
        async with node.running():
            yield advertised
    finally:
        await client.aclose()
