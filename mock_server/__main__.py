"""``python -m mock_server``: run the bundled room server.

    python -m mock_server --host 127.0.0.1 --port 9000 \\
        --app-id 1234567890 --server-secret 0123456789abcdef0123456789abcdef

Without --app-id/--server-secret it uses the development credentials and says so: anyone
who has this source can sign tokens for them.  --port 0 picks a free port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from .config import DEV_APP_ID, DEV_SERVER_SECRET, ServerConfig
from .server import RoomServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mock_server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9000, help="TCP port (0: any free port)")
    parser.add_argument("--app-id", type=int, default=None, help="the AppID tokens must carry")
    parser.add_argument("--server-secret", default=None, help="32-character token secret")
    parser.add_argument("--media-address", action="append", default=None,
                        help="address the relay gathers ICE candidates on "
                             "(repeatable; default 127.0.0.1)")
    parser.add_argument("--allow-origin", action="append", default=None,
                        help="a web origin (scheme://host:port) whose pages may open the "
                             "socket, besides the server's own page (repeatable)")
    parser.add_argument("--max-users-per-room", type=int, default=None)
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> ServerConfig:
    dev = args.app_id is None and args.server_secret is None
    if (args.app_id is None) != (args.server_secret is None):
        raise SystemExit("give both --app-id and --server-secret, or neither (dev mode)")
    if args.server_secret is not None and len(args.server_secret.encode()) != 32:
        raise SystemExit("--server-secret must be 32 bytes")
    overrides: dict[str, object] = {}
    if args.media_address:
        overrides["host_addresses"] = tuple(args.media_address)
    if args.allow_origin:
        overrides["allowed_origins"] = tuple(args.allow_origin)
    if args.max_users_per_room:
        overrides["max_users_per_room"] = args.max_users_per_room
    return ServerConfig(
        app_id=DEV_APP_ID if dev else args.app_id,
        server_secret=DEV_SERVER_SECRET if dev else args.server_secret,
        dev_mode=dev,
        **overrides,  # type: ignore[arg-type]
    )


async def serve(args: argparse.Namespace) -> None:
    config = config_from(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with RoomServer(config).running(args.host, args.port) as url:
        if config.dev_mode:
            print(f"dev credentials: app ID {config.app_id}, "
                  f"server secret {config.server_secret}")
        print(f"zego_py room server on {url}", flush=True)
        await stop.wait()
    print("stopped", flush=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    logging.getLogger("aioice").setLevel(logging.WARNING)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
