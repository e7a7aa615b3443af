"""A seeded network impairment for tests and benchmarks: random loss plus jitter.

It sits where packets are handed on (the relay's forwarding, or a benchmark's
receiver tap) and either drops a packet or delivers it after a random extra delay, so a
loopback call behaves like a lossy, jittery path, reproducibly for a given seed.
Packets may arrive out of order, as on a real network.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Impairment"]


@dataclass
class Impairment:
    loss: float = 0.0  # probability of dropping each packet
    jitter_s: float = 0.0  # extra delay, uniform in [0, jitter_s]
    seed: int = 1
    # (start, end) in seconds after the first packet: drop everything in between
    burst: tuple[float, float] | None = None
    _rng: random.Random = field(init=False, repr=False)
    _start: float | None = field(default=None, init=False, repr=False)
    dropped: int = field(default=0, init=False)
    passed: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def burst_active(self) -> bool:
        if self.burst is None or self._start is None:
            return False
        elapsed = asyncio.get_running_loop().time() - self._start
        return self.burst[0] <= elapsed < self.burst[1]

    def deliver(self, deliver: Callable[..., Any], *args: Any) -> None:
        """Call ``deliver(*args)`` now, later, or never."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._start is None:
            self._start = now
        if self.burst_active() or self._rng.random() < self.loss:
            self.dropped += 1
            return
        self.passed += 1
        delay = self._rng.uniform(0.0, self.jitter_s) if self.jitter_s else 0.0
        if delay:
            loop.call_later(delay, deliver, *args)
        else:
            deliver(*args)
