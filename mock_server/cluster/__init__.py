"""Several room-server nodes coordinated through Redis (docs/cluster.md).

Only ``python -m mock_server --redis URL`` / ``--workers N`` load this package; the
embedded default (``serve_rooms()``, ``python -m mock_server``) stays one process with
no Redis.
"""
