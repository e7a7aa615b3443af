"""A test pattern: frames that carry their own number and colour, so the far end can
check content and timing (tests, the glass-to-glass bench, voice_chat's video bots).

The frame number is drawn as 16 black/white 32x32 blocks (two rows of eight, bit 0
first) on a background from ``PALETTE``; both survive VP8/H.264 at a few hundred kbps.
"""

from __future__ import annotations

import numpy as np

# Distinct RGB colours, far apart for nearest-colour matching after compression.
PALETTE = np.array([(220, 30, 30), (30, 200, 40), (40, 60, 220), (230, 220, 40),
                    (40, 210, 220), (210, 40, 200), (240, 140, 20), (120, 120, 120)],
                   dtype=np.int16)
BLOCK = 32
BITS = 16


def pattern_frame(number: int, colour: int, width: int = 320, height: int = 240
                  ) -> np.ndarray:
    """An RGB frame of ``PALETTE[colour]`` with ``number`` (mod 2^16) in blocks."""
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = PALETTE[colour]
    for bit in range(BITS):
        y, x = (bit // 8) * BLOCK, (bit % 8) * BLOCK
        frame[y:y + BLOCK, x:x + BLOCK] = 255 if (number >> bit) & 1 else 0
    return frame


def read_number(frame: np.ndarray) -> int:
    """The number ``pattern_frame`` drew, read from each block's centre."""
    number = 0
    for bit in range(BITS):
        y, x = (bit // 8) * BLOCK + BLOCK // 2, (bit % 8) * BLOCK + BLOCK // 2
        if frame[y - 4:y + 4, x - 4:x + 4].mean() > 128:
            number |= 1 << bit
    return number


def read_colour(frame: np.ndarray) -> int:
    """The palette index nearest the background (the area below the blocks)."""
    mean = frame[2 * BLOCK + 8:, :].reshape(-1, 3).mean(axis=0)
    return int(np.argmin(((PALETTE - mean) ** 2).sum(axis=1)))
