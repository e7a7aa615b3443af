"""Failed-login throttle: exponential back-off per key (an address, a userID), bounded.

A token04 has no MAC in its CBC form, so every login attempt is a chance to probe the
server's secret-derived behaviour.  One reply for every failure closes the padding
oracle; this throttle makes guessing slow as well.  After ``free_failures`` failures a
key is blocked for ``base_s * 2**(n - free_failures)`` seconds (n = failures so far),
capped at ``max_s``; what a blocked key gets is the server's policy (docs/tokens.md).
A key with no failure for ``forget_s`` starts over.  The table holds at most
``max_keys`` keys (oldest failure evicted first), so an attacker who invents userIDs
cannot grow it without bound.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["FailureThrottle"]


@dataclass
class _Record:
    failures: int
    last_failure: float
    blocked_until: float


class FailureThrottle:
    def __init__(self, *, free_failures: int, base_s: float, max_s: float, forget_s: float,
                 max_keys: int) -> None:
        self.free_failures = free_failures
        self.base_s = base_s
        self.max_s = max_s
        self.forget_s = forget_s
        self.max_keys = max_keys
        self._records: OrderedDict[str, _Record] = OrderedDict()  # oldest failure first

    def __len__(self) -> int:
        return len(self._records)

    def _stale(self, record: _Record, now: float) -> bool:
        return now - record.last_failure > self.forget_s and now >= record.blocked_until

    def _live(self, key: str, now: float) -> _Record | None:
        record = self._records.get(key)
        if record is not None and self._stale(record, now):
            del self._records[key]
            return None
        return record

    def blocked_for(self, key: str) -> float:
        """Seconds ``key`` must still wait (0: it may try)."""
        now = time.monotonic()
        record = self._live(key, now)
        return 0.0 if record is None else max(0.0, record.blocked_until - now)

    def failed(self, key: str) -> int:
        """Record a failure for ``key``; returns its failure count."""
        now = time.monotonic()
        record = self._live(key, now) or _Record(0, now, now)
        record.failures += 1
        record.last_failure = now
        over = record.failures - self.free_failures
        if over >= 0:
            record.blocked_until = now + min(self.max_s, self.base_s * 2.0 ** min(over, 30))
        self._records[key] = record
        self._records.move_to_end(key)
        self._prune(now)
        return record.failures

    def succeeded(self, key: str) -> None:
        self._records.pop(key, None)

    def _prune(self, now: float) -> None:
        while self._records:
            key, oldest = next(iter(self._records.items()))
            if not self._stale(oldest, now) and len(self._records) <= self.max_keys:
                return
            del self._records[key]
