"""A person on the browser page talks to examples/agent_bot.py: Chromium's fake microphone
speaks espeak-ng's prompt, the agent answers, and the page hears the answer.

Runs in test_browser.py's private loopback-only network (when root), with its fixtures.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from audio_helpers import write_wav
from chromium import browser
from conftest import Harness, wait_until
from test_agent_bot import PROMPT, agent_process, speak, voiced_seconds
from test_browser import isolated, join_page, playwright, server_config  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(shutil.which("espeak-ng") is None,
                       reason="espeak-ng is not installed (scripts/install-system-deps.sh)"),
]


async def test_a_browser_user_talks_to_the_agent(harness: Harness, playwright: Any,  # noqa: F811
                                                 tmp_path: Path) -> None:
    prompt, rate = await speak(PROMPT)
    # a second of quiet, the prompt, then quiet long enough for the answer (Chromium loops it)
    wav = np.concatenate([np.zeros(rate, np.int16), prompt, np.zeros(5 * rate, np.int16)])
    mic = write_wav(tmp_path / "prompt.wav", wav, rate)
    async with agent_process(harness.url) as out, browser(playwright, mic) as context:
        web = await join_page(harness.url, context, "web1", "s_web1")
        await wait_until(lambda: any(x.startswith("answering:") for x in out), 25,
                         "the agent answering the page")
        await web.wait_for("s.players.agent_main === 'PLAYING' && s.levels.agent_main > 10",
                           "the agent's answer at the page")
    said = next(x for x in out if x.startswith("answering:"))
    match = re.search(r"for ([\d.]+) seconds", said)
    assert match, said
    assert abs(float(match.group(1)) - voiced_seconds(prompt, rate)) < 0.5, said
