"""Several room-server nodes coordinated through Redis (docs/cluster.md).

``python -m mock_server`` always reads this package's options (cli.py), but only
``--redis URL`` / ``--workers N`` import Redis or start anything; ``serve_rooms()`` and
``RoomServer`` never touch it, so the embedded default stays one process with no Redis.
"""
