"""Who hosts what: TTL leases in Redis, one owner per key, renewed by one script call.

Keys (each a plain string whose value is the owning node's ID, each with a TTL):

- ``node:{id}``  -> the node's ``ws://`` URL (how others redirect to it)
- ``room:{id}``  -> the node hosting the room (every member's signaling and media)
- ``stream:{id}`` -> the node hosting the stream (stream IDs are unique cluster-wide)

A node renews all it holds with one ``SET`` (its node key) and one ``EVALSHA`` per
tick: keep (PEXPIRE) what is still ours, re-claim (SET NX) what Redis lost (a restart),
report what another node holds (a conflict).  A dead node stops renewing, so its keys
vanish within ``ttl_ms``.  This is Redis' documented single-instance lock pattern, not a
consensus protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

__all__ = ["LeaseStore", "node_key", "room_key", "stream_key"]

log = logging.getLogger("mock_server.cluster")

# KEYS: the keys to hold; ARGV[1]: our node ID, ARGV[2]: TTL in ms.
# Returns the keys another node holds (lost to a conflict).
_RENEW = """
local lost = {}
for i, key in ipairs(KEYS) do
  local owner = redis.call('GET', key)
  if owner == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
  elseif not owner then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
  else
    table.insert(lost, key)
  end
end
return lost
"""
# Delete the keys that are still ours (never another node's).
_RELEASE = """
local n = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then n = n + redis.call('DEL', key) end
end
return n
"""


def node_key(node_id: str) -> str:
    return f"node:{node_id}"


def room_key(room_id: str) -> str:
    return f"room:{room_id}"


def stream_key(stream_id: str) -> str:
    return f"stream:{stream_id}"


class LeaseStore:
    """This node's leases.  ``wanted()`` says what the node should hold right now."""

    def __init__(self, client: aioredis.Redis, node_id: str, url: str,
                 wanted: Callable[[], Iterable[str]], ttl_ms: int = 3000) -> None:
        self.client = client
        self.node_id = node_id
        self.url = url
        self.ttl_ms = ttl_ms
        self.wanted = wanted
        self.held: set[str] = set()
        # a key claimed this tick is kept one more tick before a sweep may drop it, so a
        # login between its claim and its registry entry never loses the lease
        self._fresh: dict[str, float] = {}
        self.redis_ok = True
        self.ticks = 0
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._value_key = node_key(node_id)

    @property
    def renew_interval_s(self) -> float:
        return self.ttl_ms / 3000

    async def start(self) -> None:
        await self.client.set(self._value_key, self.url, px=self.ttl_ms)

    async def claim(self, key: str) -> str:
        """SET NX GET (one command): returns the owner's node ID, ours if we got it."""
        previous = await self.client.set(key, self.node_id, nx=True, px=self.ttl_ms, get=True)
        owner = _text(previous) if previous is not None else self.node_id
        if owner == self.node_id:
            self.held.add(key)
            self._fresh[key] = time.monotonic()
        return owner

    async def owner_of(self, key: str) -> str | None:
        value = await self.client.get(key)
        return _text(value) if value is not None else None

    def hold_locally(self, key: str) -> None:
        """Redis is down: serve anyway; the next successful tick claims the key."""
        self.held.add(key)
        self._fresh[key] = time.monotonic()

    async def owner_url(self, owner: str) -> str | None:
        return await self.owner_of(node_key(owner))

    async def ttl_left_ms(self, key: str) -> int:
        return int(await self.client.pttl(key))

    def _stale(self) -> set[str]:
        """Held, no longer wanted, and not claimed in the last two ticks."""
        now = time.monotonic()
        wanted = set(self.wanted())
        return {k for k in self.held - wanted
                if now - self._fresh.get(k, 0.0) > 2 * self.renew_interval_s}

    async def tick(self) -> list[str]:
        """Renew what is wanted, release what is not; returns keys lost to another node."""
        keep = sorted(set(self.wanted()) | (self.held - self._stale()))
        await self.client.set(self._value_key, self.url, px=self.ttl_ms)
        lost_raw = await self._renew(keys=keep, args=[self.node_id, self.ttl_ms]) if keep else []
        lost = {_text(k) for k in lost_raw}
        # decided again after the awaits: a login may have claimed a key meanwhile
        stale = self._stale()
        if stale:
            await self._release(keys=sorted(stale), args=[self.node_id])
        self.held = (self.held | set(keep)) - lost - stale
        for k in stale | lost:
            self._fresh.pop(k, None)
        self.ticks += 1
        return sorted(lost)

    async def run(self, on_lost: Callable[[list[str]], None]) -> None:
        """The renew loop: survives Redis outages (serve on, re-claim when it is back).

        ``on_lost`` gets, after every successful tick, the keys another node holds."""
        while True:
            try:
                lost = await self.tick()
            except (RedisError, OSError) as exc:
                if self.redis_ok:
                    log.warning("node %s: Redis unreachable (%s); serving hosted rooms on",
                                self.node_id, exc)
                self.redis_ok = False
            else:
                if not self.redis_ok:
                    log.warning("node %s: Redis is back; %d leases re-claimed",
                                self.node_id, len(self.held))
                self.redis_ok = True
                on_lost(lost)
            await asyncio.sleep(self.renew_interval_s)

    async def close(self) -> None:
        """Give back everything at a clean shutdown (a SIGKILL leaves it to the TTLs)."""
        with contextlib.suppress(RedisError, OSError):
            await self._release(keys=sorted(self.held), args=[self.node_id])
            await self.client.delete(self._value_key)
        self.held.clear()


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
