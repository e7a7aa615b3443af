"""Logging what a client sent without letting the client write the log.

A hostile client controls request text; logged verbatim it could fill the disk (a 64 KB
frame per line) or forge log lines (newlines, terminal escapes).  ``clip`` logs an
escaped, truncated repr with the original length (``zego_py.protocol.clip``, shared
with the protocol's error messages); ``LogBudget`` lets a noisy connection
write a few lines per second and counts the rest.
"""

from __future__ import annotations

import time

from zego_py.protocol import clip

__all__ = ["LogBudget", "clip"]


class LogBudget:
    """At most ``per_s`` lines a second (burst ``per_s``); ``take`` says whether to log."""

    def __init__(self, per_s: float) -> None:
        self.per_s = per_s
        self.tokens = per_s
        self.at = time.monotonic()
        self.suppressed = 0

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.per_s, self.tokens + (now - self.at) * self.per_s)
        self.at = now
        if self.tokens < 1:
            self.suppressed += 1
            return False
        self.tokens -= 1
        return True
