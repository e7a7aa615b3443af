"""The examples, run the way a user runs them: as programs against the bundled server.

Audio is checked by content (level, and each bot's fundamental by FFT), the terminal view
by rendering it to a recording rich Console.  Every subprocess has a timeout.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from audio_helpers import rms_dbfs
from conftest import Harness, wait_until
from rich.console import Console
from spectrum import tones_present

from zego_py.media import aec
from zego_py.media.devices import list_devices
from zego_py.media.local_stream import ZegoLocalStream
from zego_py.media.sources import ToneSource

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
sys.path[:0] = [str(EXAMPLES), str(EXAMPLES / "assets")]

import chat_view  # noqa: E402
from make_samples import VOICES  # noqa: E402

pytestmark = pytest.mark.timeout(60)

RUN_TIMEOUT_S = 45


def run_example(script: str, *args: str, cwd: Path | None = None,
                prelude: str = "") -> subprocess.CompletedProcess[str]:
    """Run ``examples/<script>`` with this interpreter; ``prelude`` runs first (patching)."""
    path = str(EXAMPLES / script)
    if prelude:
        code = (f"import sys, runpy; sys.argv = {[path, *args]!r}; {prelude}; "
                f"runpy.run_path({path!r}, run_name='__main__')")
        cmd = [sys.executable, "-c", code]
    else:
        cmd = [sys.executable, path, *args]
    return subprocess.run(cmd, cwd=cwd or ROOT, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
        return np.frombuffer(wav.readframes(wav.getnframes()), np.int16), wav.getframerate()


# ---------------------------------------------------------------------- voice_chat
def test_voice_chat_headless_call_records_the_bots(tmp_path: Path) -> None:
    proc = run_example("voice_chat.py", "--bots", "2", "--duration", "5", "--record", "out.wav",
                       "--no-mic", "--no-speaker", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "python examples/voice_chat.py --server ws://127.0.0.1:" in out  # the join command
    assert "listen-only" in out
    assert "call summary" in out and "connected, then left with logoutRoom" in out
    for i, voice in enumerate(VOICES[:2]):
        line = next(x for x in out.splitlines() if x.startswith("stream bot")
                    and f"bot{i + 1}-{voice.name}-" in x)
        assert ": played, level mean" in line, line
    pcm, rate = read_wav(tmp_path / "out.wav")
    assert rate == 48000
    assert 4.5 * rate < pcm.size < 7 * rate
    assert rms_dbfs(pcm) > -40
    heard = tones_present(pcm, [v.f0 for v in VOICES], rate)
    assert heard == {VOICES[0].f0, VOICES[1].f0}  # both bots, and no voice that wasn't there


def test_voice_chat_without_audio_devices_runs_a_short_call_with_bots() -> None:
    """No PortAudio devices (patched out): 2 bots, 8 s, listen-only, summary, exit 0."""
    prelude = ("import zego_py.media.devices as d; "
               "d.list_devices = lambda: {'microphones': [], 'speakers': [], 'cameras': []}")
    proc = run_example("voice_chat.py", prelude=prelude)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "no audio devices found: a 8 s listen-only call with 2 bot(s)" in out
    assert "8 s are up: leaving" in out
    assert "published: nothing (listen-only)" in out
    played = [x for x in out.splitlines() if x.startswith("stream bot") and ": played," in x]
    assert len(played) == 2, out
    for line in played:
        peak = float(line.split("peak ")[1].split(",")[0])
        assert peak > 30, line  # the bots were heard, not just announced


@pytest.mark.skipif(os.environ.get("ZEGO_PULSE") != "1",
                    reason="needs the PulseAudio virtual devices (scripts/with-pulseaudio.sh "
                           "sets ZEGO_PULSE=1)")
def test_voice_chat_on_devices_uses_the_engines_processing_and_speaker(tmp_path: Path) -> None:
    """Microphone and speaker: the engine runs AEC/NS/AGC (createStream's flags) with its
    speaker mix as the echo reference; --record still holds both bots."""
    proc = run_example("voice_chat.py", "--bots", "2", "--duration", "6", "--record", "out.wav",
                       "--plain", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "published: " in out and "from microphone" in out
    line = next(x for x in out.splitlines() if x.startswith("audio processing: "))
    if aec.available():
        # the engine's reference: only its own speaker feeds it, so it is counted at all
        assert line.startswith("audio processing: AEC+NS+AGC (pywebrtc-audio), "
                               "echo reference ran dry "), line
    else:
        assert line == "audio processing: no echo cancellation: use headphones", line
    pcm, rate = read_wav(tmp_path / "out.wav")
    assert rms_dbfs(pcm) > -40
    assert tones_present(pcm, [v.f0 for v in VOICES], rate) == {VOICES[0].f0, VOICES[1].f0}


def test_list_devices_prints_enum_devices() -> None:
    proc = run_example("voice_chat.py", "--list-devices")
    assert proc.returncode == 0, proc.stderr
    for heading in ("microphones:", "speakers:", "cameras:"):
        assert heading in proc.stdout


@pytest.mark.skipif(os.environ.get("ZEGO_PULSE") != "1",
                    reason="needs the PulseAudio virtual devices (scripts/with-pulseaudio.sh "
                           "sets ZEGO_PULSE=1)")
def test_list_devices_shows_the_virtual_devices() -> None:
    proc = run_example("voice_chat.py", "--list-devices")
    assert proc.returncode == 0, proc.stderr
    found = list_devices()
    assert found["microphones"] and found["speakers"]
    lines = proc.stdout.splitlines()
    for kind in ("microphones", "speakers"):
        section = lines[lines.index(f"{kind}:") + 1:]
        for dev in found[kind]:
            assert any(x.split() == [dev["deviceID"], *dev["deviceName"].split()]
                       for x in section), (dev, proc.stdout)


# ---------------------------------------------------------------------- the view
def populated_state() -> chat_view.ChatState:
    st = chat_view.ChatState(room_id="room1", user_id="alice", keys_enabled=True)
    st.publish_stream = "alice_main"
    st.room_state_update("room1", "CONNECTED", 0, "")
    st.publisher_state_update({"streamID": "alice_main", "state": "PUBLISHING",
                               "errorCode": 0, "extendedData": ""})
    st.room_user_update("room1", "ADD", [{"userID": "bob", "userName": "Bob"},
                                         {"userID": "carol", "userName": "carol"},
                                         {"userID": "dave"}])
    st.room_stream_update("room1", "ADD", [
        {"streamID": "bob_main", "user": {"userID": "bob", "userName": "Bob"}},
        {"streamID": "carol_main", "user": {"userID": "carol"}}], "")
    for stream_id in ("bob_main", "carol_main"):
        st.player_state_update({"streamID": stream_id, "state": "PLAYING", "errorCode": 0,
                                "extendedData": ""})
    st.sound_level_update([{"streamID": "alice_main", "soundLevel": 40.0, "type": "push"},
                           {"streamID": "bob_main", "soundLevel": 80.0, "type": "pull"},
                           {"streamID": "carol_main", "soundLevel": 2.0, "type": "pull"}])
    st.remote_mic_status_update("carol_main", "MUTE")
    quality = {"audio": {"audioBitrate": 48.5, "audioPacketsLostRate": 1.5, "audioQuality": 1}}
    st.play_quality_update("bob_main", quality)
    return st


def test_view_renders_people_levels_mute_and_quality() -> None:
    console = Console(record=True, width=100, color_system=None)
    console.print(chat_view.render(populated_state()))
    text = console.export_text()
    lines = text.splitlines()
    assert "room1" in text and "CONNECTED" in text and "4 in the room" in text
    me = next(x for x in lines if "alice (you)" in x)
    assert "█" * 8 in me and "PUBLISHING" in me  # level 40 of 100 = 8 of 20 cells
    bob = next(x for x in lines if "Bob [bob]" in x)
    assert "▶" in bob and "█" * 16 in bob and "PLAYING" in bob and "48.5 kbps" in bob
    carol = next(x for x in lines if "carol" in x and "MUTE" in x)
    assert "muted" in carol and "█" not in carol
    dave = next(x for x in lines if "dave" in x)
    assert "no stream" in dave
    assert "[m] mute/unmute mic" in text


def test_view_state_follows_leaving_users_and_summary() -> None:
    st = populated_state()
    st.room_stream_update("room1", "DELETE", [{"streamID": "bob_main",
                                               "user": {"userID": "bob"}}], "")
    assert st.room_user_update("room1", "DELETE", [{"userID": "bob"}]) == "Bob [bob] left"
    console = Console(record=True, width=100, color_system=None)
    console.print(chat_view.render(st))
    assert "Bob" not in console.export_text().split("╰")[0]  # gone from the table
    text = chat_view.summary(st)
    assert "joined: Bob [bob], carol, dave" in text
    assert "left: Bob [bob]" in text
    assert "stream bob_main from Bob [bob]: played, level mean 80 / peak 80" in text
    assert chat_view.level_bar(0) == " " * chat_view.BAR_WIDTH
    assert chat_view.level_bar(100) == "█" * chat_view.BAR_WIDTH
    assert chat_view.level_bar(52.5).rstrip() == "█" * 10 + "▌"


# ---------------------------------------------------------------------- small examples
def test_quickstart_users_hear_each_other() -> None:
    proc = run_example("quickstart.py", "--duration", "2")
    assert proc.returncode == 0, proc.stderr
    for listener, stream in (("alice", "bob_stream"), ("bob", "alice_stream")):
        line = next(x for x in proc.stdout.splitlines()
                    if x.startswith(f"{listener} heard {stream}:"))
        assert float(line.rsplit("sound level ", 1)[1]) > 50, line


def test_bot_echo_demo_hears_the_echo() -> None:
    proc = run_example("bot_echo.py", "--duration", "8")
    assert proc.returncode == 0, proc.stderr
    assert "echoing talker as echo_talker" in proc.stdout
    assert "listener heard echo_talker: 523 Hz" in proc.stdout


async def test_bot_echo_republishes_a_tone_it_hears(harness: Harness) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / "bot_echo.py"), "--server", harness.url,
        "--room", "room1", "--delay", "0.2", "--duration", "30",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        talker, rec = await harness.joined("talker")
        await wait_until(lambda: any(u["userID"] == "echo-bot" for e in rec["roomUserUpdate"]
                                     for u in e[2]), timeout=20, what="the bot joins")
        local = await talker.createStream({"custom": {"source": ToneSource(700.0, 0.3)}})
        assert talker.startPublishingStream("t1", local)
        await wait_until(lambda: any(s["streamID"] == "echo_t1" for e in rec["roomStreamUpdate"]
                                     if e[1] == "ADD" for s in e[2]),
                         timeout=15, what="the echo stream")
        remote = await talker.startPlayingStream("echo_t1", {"speaker": False})
        loud: list[np.ndarray] = []

        async def listen() -> None:
            async for pcm in remote.audioFrames():
                if rms_dbfs(pcm) > -30:
                    loud.append(pcm)
                    if len(loud) >= 50:
                        return

        await asyncio.wait_for(listen(), 15)
        heard = np.concatenate(loud[10:])  # skip the first 200 ms of echo
        assert tones_present(heard, [500.0, 700.0, 900.0]) == {700.0}
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), 15)
        assert proc.returncode == 0, err.decode()
        assert "echoing t1 as echo_t1" in out.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_broadcast_chat_demo_delivers_every_line() -> None:
    proc = run_example("broadcast_chat.py")
    assert proc.returncode == 0, proc.stderr
    assert "[bob] <alice> hi bob, can you hear me?" in proc.stdout
    assert "[alice] <bob> loud and clear, alice" in proc.stdout
    assert "all 4 messages delivered" in proc.stdout
    assert "[alice] <alice>" not in proc.stdout  # nobody receives their own broadcast


async def test_broadcast_chat_interactive_sends_stdin_lines(harness: Harness) -> None:
    reader, rec = await harness.joined("reader")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / "broadcast_chat.py"), "--server", harness.url,
        "--interactive", "--user", "carol", "--duration", "20",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        await wait_until(lambda: rec["roomUserUpdate"], timeout=15, what="carol joins")
        assert proc.stdin is not None
        proc.stdin.write(b"hello from carol\nsecond line\n")
        await proc.stdin.drain()
        await wait_until(lambda: len(rec["IMRecvBroadcastMessage"]) >= 2, timeout=10,
                         what="two broadcasts")
        messages = [(m["fromUser"]["userID"], m["message"])
                    for e in rec["IMRecvBroadcastMessage"] for m in e[1]]
        assert messages == [("carol", "hello from carol"), ("carol", "second line")]
        proc.stdin.close()  # end of input: the example leaves
        _, err = await asyncio.wait_for(proc.communicate(), 15)
        assert proc.returncode == 0, err.decode()
        await wait_until(lambda: rec["roomUserUpdate"][-1][1] == "DELETE", what="carol left")
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# ---------------------------------------------------------------------- echo cancellation
@pytest.mark.skipif(not aec.available(), reason="the aec extra (pywebrtc-audio) is not "
                                                "installed: pip install -e '.[aec]'")
def test_audio_processing_cancels_a_simulated_echo() -> None:
    """The far end (a sample voice) comes back into the mic 60 ms later at -8 dB."""
    voice, _ = read_wav(EXAMPLES / "assets" / VOICES[1].filename)
    far = np.tile(np.repeat(voice, 3), 2)  # 16 kHz -> 48 kHz (crude), 10 s
    delay = int(0.06 * 48000)
    echo = np.concatenate([np.zeros(delay), far[:-delay] * 0.4]).astype(np.int16)
    apm = aec.AudioProcessing.create(noise_suppression=False, auto_gain_control=False)
    assert apm is not None and apm.describe() == "AEC"
    out = []
    for i in range(0, far.size - 960, 960):  # 20 ms blocks, as the speaker and mic deliver
        apm.push_render(far[i:i + 960])
        block = apm.process_capture(echo[i:i + 960])
        assert block.shape == (960,) and block.dtype == np.int16
        out.append(block)
    cleaned = np.concatenate(out)
    last = slice(cleaned.size - 3 * 48000, cleaned.size)  # after convergence
    assert rms_dbfs(echo[last]) - rms_dbfs(cleaned[last]) > 20
    assert aec.AudioProcessing.create(echo_cancellation=False, noise_suppression=False,
                                      auto_gain_control=False) is None


@pytest.mark.skipif(not aec.available(), reason="the aec extra (pywebrtc-audio) is not "
                                                "installed: pip install -e '.[aec]'")
async def test_processed_track_keeps_timing_and_passes_speech() -> None:
    tone = ToneSource(440.0, 0.3)
    apm = aec.AudioProcessing.create(echo_cancellation=False, noise_suppression=False,
                                     auto_gain_control=True)
    assert apm is not None
    track = aec.ProcessedTrack(tone, apm)
    frames = [await track.recv() for _ in range(100)]
    assert [f.pts for f in frames] == [i * 960 for i in range(100)]
    assert all(f.samples == 960 and f.sample_rate == 48000 for f in frames)
    pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in frames[50:]])
    assert tones_present(pcm, [440.0, 880.0]) == {440.0}
    track.stop()
    assert tone.readyState == "ended"


@pytest.mark.skipif(not aec.available(), reason="the aec extra (pywebrtc-audio) is not "
                                                "installed: pip install -e '.[aec]'")
def test_local_stream_tells_what_processing_runs() -> None:
    """What voice_chat shows: ``audioProcessing`` and the echo reference's counters."""
    apm = aec.AudioProcessing.create(noise_suppression=False)
    assert apm is not None
    processed = ZegoLocalStream(aec.ProcessedTrack(ToneSource(440.0, 0.3), apm), "microphone")
    assert processed.audioProcessing == "AEC+AGC"
    assert processed.audioProcessingStats == {"render_underruns": 0, "render_dropped": 0}
    apm.render_underruns = 3
    assert processed.audioProcessingStats["render_underruns"] == 3
    plain = ZegoLocalStream(ToneSource(440.0, 0.3), "custom")
    assert plain.audioProcessing == "" and plain.audioProcessingStats == {}
    processed.stop()
    plain.stop()


def test_tapped_mixer_hands_the_speaker_mix_to_the_reference() -> None:
    taps: list[np.ndarray] = []
    mix = aec.TappedMixer(lambda block: taps.append(block.copy()))
    mix.add_input("a").push(np.full(480, 1000, np.int16))
    mix.add_input("b").push(np.full(480, 500, np.int16))
    out = np.zeros(480, np.int16)
    mix.mix_into(out)  # what SpeakerOutput's PortAudio callback does
    assert np.all(out == 1500) and len(taps) == 1 and np.array_equal(taps[0], out)


# ---------------------------------------------------------------------- video
def test_voice_chat_video_bots_send_their_pattern_in_order(tmp_path: Path) -> None:
    proc = run_example("voice_chat.py", "--bots", "2", "--video", "--duration", "8",
                       "--no-mic", "--no-speaker", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = [x for x in proc.stdout.splitlines() if x.startswith("stream bot")]
    assert len(lines) == 2, proc.stdout
    for line in lines:
        assert ": played, level mean" in line and "; video 320x240 at " in line, line
        fps = float(line.split(" at ")[1].split(" fps")[0])
        frames = int(line.split("kbps, ")[-1].split(" frames")[0])
        assert 12 <= fps <= 18 and frames > 50 and "(in order)" in line, line


def test_view_shows_each_streams_video() -> None:
    st = populated_state()
    st.play_quality_update("bob_main", {
        "audio": {"audioBitrate": 48.5, "audioPacketsLostRate": 0, "audioQuality": 0},
        "video": {"frameWidth": 320, "frameHeight": 240, "videoFPS": 15.0,
                  "videoBitrate": 180.4}})
    console = Console(record=True, width=130, color_system=None)
    console.print(chat_view.render(st))
    bob = next(x for x in console.export_text().splitlines() if "Bob [bob]" in x)
    assert "320x240 15fps 180k" in bob
    assert "video 320x240 at 15.0 fps, 180 kbps" in chat_view.summary(st)
