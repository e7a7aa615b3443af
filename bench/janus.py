"""Optional anchor for relay_cpu: Janus VideoRoom (Debian ``janus``) in a private netns.

Needs root, ``unshare`` and ``janus`` (``apt-get install -y --no-install-recommends
janus``).  When anything is missing or Janus does not come up, the series is skipped
with the reason printed; MediaRelay stays the anchor.  The measuring happens in
``bench.janus_child``, which runs entirely inside the namespace (clients included).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from typing import Any

from .harness import ROOT

__all__ = ["run_series", "unavailable"]

TIMEOUT_PER_POINT_S = 60.0


def unavailable() -> str:
    """Why Janus cannot run here ('' when it can)."""
    if shutil.which("janus") is None:
        return "janus not installed (apt-get install -y --no-install-recommends janus)"
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare/ip not available"
    if os.getuid() != 0:
        return "needs root for a private network namespace"
    return ""


async def run_series(sizes: list[int], warmup: float, window: float, video: bool = False
                     ) -> tuple[list[dict[str, Any]], str]:
    """Janus points for ``sizes`` (audio, or video with ``video``); ([], reason) when
    skipped."""
    why = unavailable()
    if why:
        print(f"  Janus VideoRoom: skipped ({why})", flush=True)
        return [], why
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = await asyncio.create_subprocess_exec(
        "unshare", "-n", sys.executable, "-m", "bench.janus_child",
        "--sizes", ",".join(map(str, sizes)), "--warmup", str(warmup), "--window", str(window),
        *(["--video"] if video else []),
        cwd=str(ROOT), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

    async def echo_stderr() -> str:
        assert proc.stderr is not None
        tail: list[str] = []
        async for line in proc.stderr:
            text = line.decode(errors="replace").rstrip()
            tail = (tail + [text])[-20:]
            if text.startswith("  Janus"):
                print(text, flush=True)
        return "\n".join(tail)

    try:
        stdout, tail = await asyncio.wait_for(
            asyncio.gather(proc.stdout.read(), echo_stderr()),  # type: ignore[union-attr]
            TIMEOUT_PER_POINT_S * len(sizes) + 30)
        await proc.wait()
    except TimeoutError:
        proc.kill()  # our own child, by its handle (unshare runs python in place)
        await proc.wait()
        why = "Janus run timed out"
        print(f"  Janus VideoRoom: skipped ({why})", flush=True)
        return [], why
    for line in stdout.decode().splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):]), ""
    last = tail.strip().splitlines()[-1] if tail.strip() else f"exit code {proc.returncode}"
    why = f"Janus run failed: {last[:200]}"
    print(f"  Janus VideoRoom: skipped ({why})", flush=True)
    return [], why
