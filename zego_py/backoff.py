"""When to retry a lost connection: LiveKit's schedule with jitter, inside a time budget."""

from __future__ import annotations

import random
from collections.abc import Iterator

__all__ = ["retry_delays"]

# 0, 0.3, 1.2, 2.7, 4.8 s (quadratic, as LiveKit's client), then every 7 s.
_SCHEDULE = (0.0, 0.3, 1.2, 2.7, 4.8)
_STEADY_S = 7.0
_JITTER_S = 1.0


def retry_delays(budget_s: float, rng: random.Random | None = None) -> Iterator[float]:
    """Delays before each attempt; the sum stays within ``budget_s``.

    Jitter (up to 1 s, none on the first attempt) keeps many clients of a restarted
    server from reconnecting in lockstep.
    """
    rng = rng or random.Random()
    spent = 0.0
    attempt = 0
    while True:
        base = _SCHEDULE[attempt] if attempt < len(_SCHEDULE) else _STEADY_S
        delay = base + (rng.uniform(0, _JITTER_S) if attempt else 0.0)
        delay = min(delay, budget_s - spent)
        if delay < 0 or (attempt and spent + delay >= budget_s):
            return
        spent += delay
        attempt += 1
        yield delay
