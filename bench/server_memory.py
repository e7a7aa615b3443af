"""4b. Server memory per logged-in user: RSS of the child server with 0, 1 and U users.

Engines in this process log in (no media) to one room of a fresh server child; RSS
(VmRSS) is read after each step settles.  The anchor is RSS with 0 users (after one
user came and went, so imports and first-use allocations are in).  Per user =
(RSS(U) - RSS(1)) / (U - 1).
"""

from __future__ import annotations

import asyncio
from typing import Any

from zego_py import ZegoExpressEngine

from .harness import close_all, joined_engine, server_child
from .report import Row

NAME = "server_memory"
MB = 1024 * 1024


async def _login_many(url: str, first: int, count: int, batch: int = 25
                      ) -> list[ZegoExpressEngine]:
    engines: list[ZegoExpressEngine] = []
    for start in range(first, first + count, batch):
        ids = range(start, min(first + count, start + batch))
        engines += await asyncio.gather(*(joined_engine(url, f"mem{i}", room_id="mem")
                                          for i in ids))
    return engines


async def run(quick: bool = False, users: int = 200) -> dict[str, Any]:
    settle = 0.5 if quick else 1.0
    engines: list[ZegoExpressEngine] = []
    async with server_child("zego") as (server, url):
        try:
            warm = await joined_engine(url, "warm", room_id="warm")
            await warm.close()
            await asyncio.sleep(settle)
            rss0 = server.rss_bytes()
            engines += await _login_many(url, 0, 1)
            await asyncio.sleep(settle)
            rss1 = server.rss_bytes()
            engines += await _login_many(url, 1, users - 1)
            await asyncio.sleep(settle)
            rss_n = server.rss_bytes()
        finally:
            await close_all(engines)
    per_user = (rss_n - rss1) / (users - 1)
    rows = [
        Row("server RSS", "1 user", rss1 / MB, "MiB", "0 users", rss0 / MB),
        Row("server RSS", f"{users} users", rss_n / MB, "MiB", "0 users", rss0 / MB),
        Row("server memory per logged-in user", "(RSS(U)-RSS(1))/(U-1)", per_user / 1024,
            "KiB", "", None, "signaling only, no media"),
    ]
    return {"name": NAME, "rows": rows,
            "raw": {"rss0": rss0, "rss1": rss1, "rss_n": rss_n, "users": users,
                    "per_user_bytes": per_user}}
