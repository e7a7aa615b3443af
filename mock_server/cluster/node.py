"""One cluster node: a RoomServer whose rooms and streams are leased in Redis.

The server calls these hooks (``RoomServer.cluster``); everything else it does as a
single process would.  Rooms: the first login claims ``room:{id}``; a login on another
node is answered with ``{"redirect": host_url}`` and the engine reconnects there, so a
room's members, its messages and its streams' media all live on one node.  Streams:
``stream:{id}`` keeps IDs unique; playing a stream of another node pulls one copy here
(forward.py).  A lease held by a node that no longer answers is waited out (at most its
TTL), then taken: that is how a killed node's rooms move.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from zego_py import validation
from zego_py.errors import ErrorCode, ZegoError
from zego_py.protocol import Push, Request

from ..rooms import Outgoing
from .forward import Upstream, pull_proof
from .leases import LeaseStore, room_key, stream_key

if TYPE_CHECKING:
    from ..server import Connection, RoomServer

__all__ = ["ClusterNode"]

log = logging.getLogger("mock_server.cluster")

_STORE_DOWN = "the cluster's Redis is unreachable; retry"


async def _reachable(url: str, timeout: float = 0.5) -> bool:
    """A TCP connect to a node's port: refused at once when the node is dead."""
    parts = urlsplit(url)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, parts.port or 80), timeout)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class ClusterNode:
    def __init__(self, server: RoomServer, client: aioredis.Redis, node_id: str, url: str,
                 ttl_ms: int = 3000) -> None:
        self.server = server
        self.node_id = node_id
        self.url = url
        self.leases = LeaseStore(client, node_id, url, self._wanted, ttl_ms)
        self.upstreams: dict[str, Upstream] = {}
        self._opening: dict[str, asyncio.Task[Upstream]] = {}
        # pull links other nodes opened here: connection key -> the streams they pull
        self.pullers: dict[int, set[str]] = {}
        self.conflicts: set[str] = set()  # keys last reported held by another node

    def _wanted(self) -> Iterator[str]:
        registry = self.server.registry
        yield from (room_key(r) for r in registry.rooms)
        yield from (stream_key(s) for s in registry.streams)

    # ------------------------------------------------------------------ leases
    async def _take(self, key: str) -> tuple[str, str | None]:
        """Claim ``key``; if its owner does not answer, wait its lease out and claim it.

        Returns the owner (ours, or a live node's) and the owner's URL (None if ours)."""
        deadline = time.monotonic() + self.leases.ttl_ms / 1000 + 1.0
        while True:
            owner = await self.leases.claim(key)
            if owner == self.node_id:
                return owner, None
            url = await self.leases.owner_url(owner)
            if url is not None and await _reachable(url):
                return owner, url
            if time.monotonic() > deadline:
                return owner, url
            left = await self.leases.ttl_left_ms(key)
            log.info("node %s: %s is held by %s, which does not answer; waiting %d ms",
                     self.node_id, key, owner, left)
            await asyncio.sleep(min(max(left, 20), 500) / 1000)

    async def route_login(self, room_id: str) -> str | None:
        """None: host the room here.  Else the host node's URL to redirect the client to."""
        if room_id in self.server.registry.rooms:
            return None
        key = room_key(room_id)
        try:
            owner, url = await self._take(key)
        except (RedisError, OSError):
            raise ZegoError(ErrorCode.ROOM_INNER_ERROR, _STORE_DOWN) from None
        if owner == self.node_id:
            return None
        if url is None:
            raise ZegoError(ErrorCode.ROOM_INNER_ERROR, "the room's host node is gone; retry")
        log.info("node %s: room %s is hosted by %s: redirecting", self.node_id, room_id, owner)
        return url

    async def claim_stream(self, stream_id: str) -> None:
        """Stream IDs are unique cluster-wide (1003028 when another node has it)."""
        key = stream_key(stream_id)
        try:
            owner, _ = await self._take(key)
        except (RedisError, OSError):
            # a room we host keeps working while Redis is down; claimed when it is back
            self.leases.hold_locally(key)
            return
        if owner != self.node_id:
            raise ZegoError(ErrorCode.DUPLICATE_STREAM_ID)

    def on_lost(self, keys: list[str]) -> None:
        """Another node holds keys we serve (split after a Redis restart): say so once."""
        new = sorted(set(keys) - self.conflicts)
        self.conflicts = set(keys)
        if new:
            log.error("node %s: another node holds %s, which this node serves too (Redis "
                      "lost its data while both took them; docs/cluster.md)", self.node_id, new)

    # ------------------------------------------------------------------ play, listener side
    def is_upstream(self, stream_id: str) -> bool:
        return stream_id in self.upstreams or stream_id in self._opening

    async def play_remote(self, key: int, stream_id: str, sdp: str) -> dict[str, Any]:
        """Play a stream hosted by another node through one pulled copy."""
        if key not in self.server.registry.sessions:
            raise ZegoError(ErrorCode.NOT_LOGIN)
        upstream = self.upstreams.get(stream_id)
        if upstream is not None and key in upstream.players:
            raise ZegoError(ErrorCode.REPEATED_PULL_STREAM)
        if upstream is None:
            task = self._opening.get(stream_id)
            if task is None:
                task = asyncio.ensure_future(self._open_upstream(stream_id))
                self._opening[stream_id] = task
                task.add_done_callback(lambda _: self._opening.pop(stream_id, None))
            upstream = await asyncio.shield(task)
        # count the player before the first await: sync() closes a copy nobody plays
        upstream.players.add(key)
        upstream.joining.add(key)
        upstream.ready = True
        try:
            answer = await self.server.relay.add_listener(stream_id, key, sdp)
        except ZegoError:
            upstream.players.discard(key)
            await self.sync()
            raise
        finally:
            upstream.joining.discard(key)
        return {"sdp": answer}

    async def _open_upstream(self, stream_id: str) -> Upstream:
        try:
            owner = await self.leases.owner_of(stream_key(stream_id))
            url = await self.leases.owner_url(owner) if owner else None
        except (RedisError, OSError):
            raise ZegoError(ErrorCode.PLAY_STREAM_NOT_FOUND, _STORE_DOWN) from None
        if owner is None or owner == self.node_id or url is None:
            raise ZegoError(ErrorCode.PLAY_STREAM_NOT_FOUND)
        upstream = Upstream(stream_id, url, self.server.relay, self._upstream_ended)
        try:
            await upstream.open(self.node_id, self.server.config.server_secret)
        except ZegoError as exc:
            await upstream.close()
            raise ZegoError(ErrorCode.PLAY_STREAM_NOT_FOUND, exc.message) from None
        self.upstreams[stream_id] = upstream
        return upstream

    def _upstream_ended(self, upstream: Upstream, code: int) -> None:
        """The host node ended the stream (or died): its local players get playEnded."""
        if self.upstreams.get(upstream.stream_id) is upstream:
            del self.upstreams[upstream.stream_id]
        push = Push("playEnded", {"streamID": upstream.stream_id, "code": code})
        out = [Outgoing(k, push) for k in upstream.players]
        asyncio.ensure_future(self._end_upstream(upstream, out))

    async def _end_upstream(self, upstream: Upstream, out: list[Outgoing]) -> None:
        await upstream.close()
        await self.server._deliver(out)

    async def stop_remote(self, key: int, stream_id: str) -> None:
        upstream = self.upstreams.get(stream_id)
        if upstream is not None and key in upstream.players:
            upstream.players.discard(key)
            await self.server.relay.remove_listener(stream_id, key)
            await self.sync()

    async def sync(self) -> None:
        """After any change: drop players whose session ended or whose peer connection the
        relay reaped, and copies nobody plays."""
        sessions = self.server.registry.sessions
        for stream_id, upstream in list(self.upstreams.items()):
            relayed = self.server.relay.streams.get(stream_id)
            listening = relayed.listeners if relayed is not None else {}
            for key in [k for k in upstream.players if k not in sessions
                        or (k not in listening and k not in upstream.joining)]:
                upstream.players.discard(key)
                await self.server.relay.remove_listener(stream_id, key)
            if (upstream.ready and not upstream.players
                    and self.upstreams.get(stream_id) is upstream):
                del self.upstreams[stream_id]
                await upstream.close()

    # ------------------------------------------------------------------ play, host side
    async def handle_pull(self, conn: Connection, req: Request) -> dict[str, Any]:
        """Another node pulls one copy of a stream hosted here."""
        b = req.body
        stream_id = validation.check_stream_id(b["streamID"])
        expected = pull_proof(self.server.config.server_secret, b["node"], stream_id)
        if not hmac.compare_digest(expected, b["proof"]):
            raise ZegoError(ErrorCode.TOKEN_ERROR, "not a cluster node")
        conn.logged_in.set()
        answer = await self.server.relay.add_listener(stream_id, conn.key, b["sdp"])
        record = self.server.registry.streams.get(stream_id)
        if record is None:
            await self.server.relay.remove_listener(stream_id, conn.key)
            raise ZegoError(ErrorCode.PLAY_STREAM_NOT_FOUND)
        record.players.add(conn.key)
        self.pullers.setdefault(conn.key, set()).add(stream_id)
        log.info("node %s: node %s pulls %s", self.node_id, b["node"], stream_id)
        return {"sdp": answer}

    async def connection_gone(self, key: int) -> None:
        for stream_id in self.pullers.pop(key, set()):
            record = self.server.registry.streams.get(stream_id)
            if record is not None:
                record.players.discard(key)
            await self.server.relay.remove_listener(stream_id, key)

    # ------------------------------------------------------------------ running
    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ClusterNode]:
        await self.leases.start()
        self.server.attach_cluster(self)
        renewer = asyncio.create_task(self.leases.run(self.on_lost))
        log.info("node %s joined the cluster as %s", self.node_id, self.url)
        try:
            yield self
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            for upstream in list(self.upstreams.values()):
                await upstream.close()
            await self.leases.close()
