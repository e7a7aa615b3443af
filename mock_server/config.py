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
    # Re-login after a server restart uses a server-minted token valid until the app
    # token's expiry plus this grace, never longer however often it is re-minted.
    reconnect_token_grace_s: int = 600
    # Live sockets plus sessions in their grace period, per client address.
    max_connections_per_address: int = 256
    # TCP connections whose opening handshake has not finished (websockets allows 10 s),
    # per client address; more are aborted at accept (idle sockets, slowloris).
    max_handshakes_per_address: int = 32
    # Failed logins (any token failure) back off exponentially, per address and per
    # userID: after this many, each further failure blocks the key for
    # base * 2**(n - free) s (at most max).  A blocked address gets 1009015 undecrypted;
    # a blocked userID still has its token checked (a valid one gets in), failures 1009015.
    login_free_failures: int = 5
    login_backoff_base_s: float = 1.0
    login_backoff_max_s: float = 60.0
    login_failure_forget_s: float = 600.0
    login_throttle_max_keys: int = 10_000
    # A failed login or renewal is answered no sooner than this after its token check
    # began, so every failure kind takes the same time (no timing oracle); successes
    # are not delayed.  Only the failing socket waits (it handles requests in order).
    failed_login_reply_floor_s: float = 0.005
    # Rooms
    max_rooms: int = 10_000
    max_users_per_room: int = 1_000
    max_streams_per_user: int = 4
    # Per-room message rates (ZEGO's published limits), messages per second.
    broadcast_per_room_per_s: int = 10
    barrage_per_room_per_s: int = 20
    custom_command_per_room_per_s: int = 10
    # Log lines one connection may cause per second (the rest are counted, not written).
    log_lines_per_conn_per_s: float = 5.0
    # ... and all connections together (many sockets must not multiply the log).
    log_lines_per_s: float = 50.0
    # Per-connection request rate: a burst bucket refilled at this rate.
    requests_per_s: float = 50.0
    request_burst: int = 100
    # Media: peer connections (each holds sockets, i.e. file descriptors).  Beyond a cap a
    # publish gets 1003025 and a play 1004025 ("stream forbidden by media server").
    max_peers_per_session: int = 20
    max_peers_per_address: int = 64
    # A relay peer connection not connected this long after its answer is dropped.
    peer_connect_timeout_s: float = 20.0
    # Bytes queued for one socket; a client that reads slower is disconnected (1008).
    max_outbox_bytes: int = 1 << 20
    # Media: host addresses the relay gathers ICE candidates on (loopback by default).
    host_addresses: tuple[str, ...] = ("127.0.0.1",)
    # Browser pages on other origins allowed to open a socket (exact "scheme://host:port").
    allowed_origins: tuple[str, ...] = ()
    # A development server (python -m mock_server without credentials): offers /dev/token
    # (with the dev credentials only), accepts loopback Origins of any port, and answers
    # only requests whose Host is loopback or the bound host (DNS-rebinding defence).
    dev_mode: bool = True
