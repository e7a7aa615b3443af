"""A participant in its own process: logs in, optionally publishes a tone, prints READY,
then waits to be killed.  Tests kill it to see what a vanished client does to a room.

    python tests/peer_process.py URL USER_ID [STREAM_ID] [FREQ]
"""

from __future__ import annotations

import asyncio
import sys

from conftest import LOOPBACK, make_token

from mock_server import DEV_APP_ID
from zego_py import ZegoExpressEngine
from zego_py.media.sources import ToneSource


async def main(url: str, user_id: str, stream_id: str, freq: float) -> None:
    engine = ZegoExpressEngine(DEV_APP_ID, url, options=dict(LOOPBACK))
    await engine.loginRoom("room1", make_token(user_id), {"userID": user_id},
                           {"userUpdate": True})
    if stream_id:
        published = asyncio.Event()
        engine.on("publisherStateUpdate",
                  lambda r: published.set() if r["state"] == "PUBLISHING" else None)
        local = await engine.createStream({"custom": {"source": ToneSource(freq)}})
        engine.startPublishingStream(stream_id, local)
        await asyncio.wait_for(published.wait(), 10)
    print("READY", flush=True)
    await asyncio.sleep(120)


if __name__ == "__main__":
    url, user_id, stream_id, freq = (sys.argv[1:] + ["", "440"])[:4]
    asyncio.run(main(url, user_id, stream_id, float(freq)))
