"""The bundled zego_py room server: rooms, users, streams, tokens and an Opus forwarding relay.

Run it with ``python -m mock_server``; from code, ``async with serve_rooms() as url``.
"""

from .config import DEV_APP_ID, DEV_SERVER_SECRET, ServerConfig
from .server import RoomServer, serve_rooms

__all__ = ["DEV_APP_ID", "DEV_SERVER_SECRET", "RoomServer", "ServerConfig", "serve_rooms"]
