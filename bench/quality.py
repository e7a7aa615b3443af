"""5. Speech quality (PESQ) through the relay, under impairment: NOT IMPLEMENTED YET.

Reserved for the impairment layer (loss, jitter and reordering between engine and
relay) that is being added separately.  The plan, so the pieces fit:

- a speech-like reference signal published with ``AudioSource`` (48 kHz int16);
- the listener records ``audioFrames()``; the recording is aligned to the reference
  with the click detector in ``bench.common`` (put a click before the speech);
- PESQ (ITU-T P.862, wide band at 16 kHz) per impairment profile, beside the anchor:
  the same signal over a direct aiortc call with the same impairment (``p2p_call``).

To add it: implement ``run(quick) -> {"name", "rows", "raw"}`` here (rows are
``bench.report.Row``), then set ``AVAILABLE = True``; ``python -m bench`` picks it up.
"""

from __future__ import annotations

from typing import Any

NAME = "quality"
AVAILABLE = False
REASON = "PESQ quality is not implemented yet (waits for the impairment layer)"


async def run(quick: bool = False) -> dict[str, Any]:
    raise NotImplementedError(REASON)
