"""Headless Debian Chromium as a room participant, for tests/test_browser.py.

- ``require_browser()`` skips (or, with ZEGO_REQUIRE_BROWSER=1 as in CI, fails) when
  /usr/bin/chromium or the ``playwright`` package is missing.  Playwright drives the
  system Chromium through ``executable_path``: no ``playwright install`` download.
- ``private_network()`` moves this thread into a fresh network namespace that has only
  ``lo`` (root only; elsewhere it does nothing), so the server, the engines and every
  Chromium process it spawns share a loopback no other host can see, and Chromium's
  WebRTC stack cannot bind (or send from) any real interface.
- ``browser()`` launches one Chromium with a fake microphone playing a WAV file; every
  page it opens gets tests/web/analysis.js (``window.zegoAnalysis``: FFT of a
  MediaStream), so no page carries test code.  ``open_page()`` opens a URL in it, and
  ``serve_file()`` answers one URL of the room server's origin with a file of ours
  (Playwright's routing: the server itself is not touched).

docs/browser.md explains every flag.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import fcntl
import logging
import os
import shutil
import socket
import struct
import tempfile
import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

log = logging.getLogger("tests.chromium")

CHROMIUM = os.environ.get("ZEGO_CHROMIUM", "/usr/bin/chromium")
WEB = Path(__file__).with_name("web")  # pages and scripts the tests serve
REQUIRE = os.environ.get("ZEGO_REQUIRE_BROWSER") == "1"

LAUNCH_TIMEOUT_MS = 30_000
CLOSE_TIMEOUT_S = 15.0

# Playwright adds its own automation flags (--headless, --no-sandbox in containers,
# --disable-dev-shm-usage, ...); these are ours.  --disable-features *replaces*
# Playwright's own list (Chromium honours the last occurrence), so it repeats the
# network-discovery features that list turns off.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-domain-reliability",
    "--disable-default-apps",
    "--no-pings",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns,MediaRouter,DialMediaRouteProvider,"
    "Translate,OptimizationHints,CertificateTransparencyComponentUpdater,"
    "AutofillServerCommunication,InterestFeedContentSuggestions",
]


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return (f"no Chromium at {CHROMIUM}: install Debian's 'chromium' package "
                "(scripts/install-system-deps.sh)")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the 'playwright' package is missing: pip install -e '.[dev]'"
    return None


def require_browser() -> None:
    reason = missing_browser()
    if reason is None:
        return
    if REQUIRE:
        pytest.fail(f"ZEGO_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason=reason)


def write_tone_wav(path: Path, freq: float, seconds: float = 10.0, amplitude: float = 0.5,
                   rate: int = 48000) -> Path:
    """A mono 16-bit sine WAV: Chromium's fake microphone plays it in a loop.

    A whole number of periods fits in the file, so the loop has no click.
    """
    periods = max(1, round(freq * seconds))
    n = round(periods * rate / freq)
    t = np.arange(n) / rate
    pcm = np.round(amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


# ---------------------------------------------------------------------- network namespace
_CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, _SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))


@contextlib.contextmanager
def private_network() -> Iterator[bool]:
    """Run the block in a new network namespace with only ``lo`` (up); yields True.

    Needs CAP_SYS_ADMIN (root).  Elsewhere, if the kernel refuses, or with
    ZEGO_BROWSER_NETNS=0, yields False and changes nothing.  unshare(CLONE_NEWNET)
    moves only the calling thread, so the sockets this thread creates (the event
    loop's: server, relay, engines) and the processes it spawns (Playwright's driver
    and Chromium) live there; setns() moves the thread back afterwards.  Sockets
    opened inside keep working in the private namespace until they close.
    """
    if (os.environ.get("ZEGO_BROWSER_NETNS") == "0" or os.geteuid() != 0
            or not os.path.exists("/proc/thread-self/ns/net")):
        yield False
        return
    libc = _libc()
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.unshare(_CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            log.info("unshare(CLONE_NEWNET) failed: %s", errno.errorcode.get(err, err))
            yield False
            return
        try:
            _loopback_up()
            yield True
        finally:
            if libc.setns(home, _CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, "setns back to the original network namespace failed")
    finally:
        os.close(home)


def interface_names() -> list[str]:
    return sorted(name for _, name in socket.if_nameindex())


# ---------------------------------------------------------------------- Chromium
@contextlib.asynccontextmanager
async def browser(playwright: Any, fake_mic_wav: Path | None = None) -> AsyncIterator[Any]:
    """One Chromium process (fresh profile) with ``fake_mic_wav`` as its microphone."""
    profile = tempfile.mkdtemp(prefix="zego-chromium-")
    args = list(CHROMIUM_FLAGS)
    if fake_mic_wav is not None:
        args.append(f"--use-file-for-fake-audio-capture={fake_mic_wav}")
    context = await playwright.chromium.launch_persistent_context(
        profile,
        executable_path=CHROMIUM,
        headless=True,
        args=args,
        # Playwright mutes audio by default; muted output never starts playout, so
        # getStats' totalSamplesReceived/concealedSamples would stay 0.
        ignore_default_args=["--mute-audio"],
        timeout=LAUNCH_TIMEOUT_MS,
        viewport={"width": 900, "height": 560},
    )
    try:
        await context.add_init_script(path=str(WEB / "analysis.js"))
        yield context
    finally:
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await context.close()
        finally:
            shutil.rmtree(profile, ignore_errors=True)


async def serve_file(context: Any, url: str, path: Path, content_type: str) -> None:
    """Answer ``url`` (any query string) with ``path``: a page of ours on the server's
    origin, so its WebSocket and its imports are same-origin, as in production.

    A response Playwright fulfils came from no socket, so Chromium's Local Network Access
    checks count the page as public and block its WebSocket to 127.0.0.1
    (net::ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS): the origin gets that permission.
    """
    async def fulfil(route: Any) -> None:
        await route.fulfill(path=str(path), content_type=content_type)

    origin = "/".join(url.split("/", 3)[:3])
    await context.grant_permissions(["local-network-access"], origin=origin)
    await context.route(lambda u: u.split("?", 1)[0] == url, fulfil)


async def open_page(context: Any, url: str, console: list[str]) -> Any:
    """Open ``url`` in ``context``, collecting console lines and page errors in ``console``."""
    page = context.pages[0] if context.pages else await context.new_page()
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    page.set_default_timeout(20_000)
    await page.goto(url, wait_until="load")
    return page
