"""Cross-node play: one copy of a stream pulled from its host node into this node's relay.

A listener plays by stream ID on the node hosting its room.  When the stream lives on
another node, this node opens one ``pullStream`` link there (a WebSocket speaking the
same protocol, authenticated by an HMAC of the server secret) and one peer connection
whose packets feed a local relay stream; every local listener of that stream shares
the copy.  The host node treats the pull as one more listener, so its playEnded push
ends the copy here too.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable

from aiortc import RTCSessionDescription

from zego_py.protocol import Push
from zego_py.signaling import SignalingClient

from ..relay import Relay

__all__ = ["Upstream", "pull_proof"]

log = logging.getLogger("mock_server.cluster")


def pull_proof(secret: str, node_id: str, stream_id: str) -> str:
    """What a node shows another to pull a stream: only nodes know the server secret."""
    return hmac.new(secret.encode(), f"pull:{node_id}:{stream_id}".encode(),
                    hashlib.sha256).hexdigest()


class Upstream:
    """One pulled stream: its link to the host node and the local players sharing it."""

    def __init__(self, stream_id: str, url: str, relay: Relay,
                 on_ended: Callable[[Upstream, int], None]) -> None:
        self.stream_id = stream_id
        self.url = url
        self.relay = relay
        self.players: set[int] = set()
        self.joining: set[int] = set()  # players whose peer connection is being negotiated
        # False until the first player is counted, so it is not closed as unused before
        self.ready = False
        self._on_ended = on_ended
        self._ended = False
        self.link = SignalingClient(url, self._on_push, lambda: self._end(5),
                                    ping_interval=2.0, ping_timeout=6.0)

    async def open(self, node_id: str, secret: str) -> None:
        await self.link.connect(timeout=5)
        pc, offer = await self.relay.open_upstream(self.stream_id)
        data = await self.link.request("pullStream", {
            "streamID": self.stream_id, "sdp": offer, "node": node_id,
            "proof": pull_proof(secret, node_id, self.stream_id)}, timeout=5)
        await pc.setRemoteDescription(RTCSessionDescription(data["sdp"], "answer"))
        log.info("pulling %s from %s", self.stream_id, self.url)

    def _on_push(self, push: Push) -> None:
        if push.type == "playEnded":
            self._end(int(push.body["code"]))

    def _end(self, code: int) -> None:
        if not self._ended:
            self._ended = True
            self._on_ended(self, code)

    async def close(self) -> None:
        self._ended = True
        await self.link.close()
        await self.relay.remove_publisher(self.stream_id)
