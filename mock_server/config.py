"""The bundled server's settings and limits, in one place (documented in docs/server.md)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEV_APP_ID", "DEV_SERVER_SECRET", "ServerConfig"]

# Development credentials: the server prints them at start-up so examples can mint tokens.
# Never use them outside a laptop: anyone who reads this file can sign tokens for them.
DEV_APP_ID = 1234567890
DEV_SERVER_SECRET = "0123456789abcdef0123456789abcdef"


@dataclass(frozen=True)
class ServerConfig:
    """One server's settings and limits (docs/server.md); frozen: fixed while it runs."""

    app_id: int = DEV_APP_ID
    server_secret: str = DEV_SERVER_SECRET
    # Signaling
    max_frame_bytes: int = 64 * 1024
    login_deadline_s: float = 10.0
    ping_interval_s: float = 5.0
    ping_timeout_s: float = 15.0
    online_count_interval_s: float = 30.0
    # A session whose socket drops stays (its streams keep flowing) this long, so the
    # client can resume it; then peers get DELETE with reason 2 (heartbeat timeout).
    session_grace_s: float = 10.0
    # Pushes kept for a detached session; past this it is dropped at once.
    detached_push_limit: int = 1000
    # Re-login after a server restart uses a server-minted token valid at least this long.
    reconnect_token_min_s: int = 600
    max_connections_per_address: int = 256
    # Rooms
    max_rooms: int = 10_000
    max_users_per_room: int = 1_000
    max_streams_per_user: int = 4
    # Per-room message rates (ZEGO's published limits), messages per second.
    broadcast_per_room_per_s: int = 10
    barrage_per_room_per_s: int = 20
    custom_command_per_room_per_s: int = 10
    # Per-connection request rate: a burst bucket refilled at this rate.
    requests_per_s: float = 50.0
    request_burst: int = 100
    # Media: host addresses the relay gathers ICE candidates on (loopback by default).
    host_addresses: tuple[str, ...] = ("127.0.0.1",)
    # Dev-only: when True, tokens are not required to carry a payload.
    dev_mode: bool = True
