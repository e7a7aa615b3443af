"""The engine's one speaker: every played stream mixes into one output device.

The output device opens when the first stream is played to it and stays open until the
engine closes; the mix that goes to it is also the echo canceller's reference.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from ..errors import ZegoError

# Both import cheaply without PortAudio or pywebrtc-audio: devices.py loads sounddevice
# and aec.py loads pywebrtc_audio lazily, on first use.
from . import devices
from .aec import TappedMixer
from .mixer import MixerInput

__all__ = ["Speaker"]

log = logging.getLogger("zego_py.media")


class Speaker:
    """The shared speaker mix and the output device it plays on."""

    def __init__(self, echo_reference: Callable[[np.ndarray], None]) -> None:
        self._echo_reference = echo_reference  # runs on the PortAudio thread
        self._mixer: TappedMixer | None = None
        self._output: devices.SpeakerOutput | None = None
        self._device: str | None = None

    def attach(self, stream_id: str, device_id: str | None) -> MixerInput | None:
        """Mix this stream into the speaker output; None if this machine has none."""
        if self._output is None:
            if not devices.portaudio_available() or not devices.list_devices()["speakers"]:
                log.info("no speaker: %s plays to code only (audioFrames)", stream_id)
                return None
            if device_id is not None:
                self._device = None if device_id == "default" else device_id
            self._mixer = TappedMixer(self._echo_reference)
            try:
                # 20 ms callbacks over 80 ms of device buffer: 40 ms underran when the
                # GIL was held ~55-85 ms, and each underrun stalls PulseAudio ~1.9 s and
                # shifts the echo delay (measured in docs/audio-devices.md).
                self._output = devices.SpeakerOutput(self._mixer, device_id=self._device,
                                                     blocksize=960, latency=0.08)
                self._output.start()
            except ZegoError as exc:
                log.warning("speaker unavailable: %s", exc)
                self._output = None
                return None
        assert self._mixer is not None
        return self._mixer.add_input(stream_id)

    def detach(self, stream_id: str) -> None:
        if self._mixer is not None:
            self._mixer.remove_input(stream_id)

    def use_device(self, device_id: str | None) -> bool:
        """useAudioOutputDevice: switch now if playing, else remember for the first stream."""
        self._device = None if device_id in (None, "default") else str(device_id)
        if self._output is not None:
            try:
                self._output.switch_device(self._device)
            except ZegoError as exc:
                log.warning("useAudioOutputDevice(%s): %s", device_id, exc)
                return False
        return True

    def device_gone(self, device_id: str) -> bool:
        """The output device went away: play on the default one.  True when it was ours
        (whether or not the default one opened: useAudioOutputDevice's log says)."""
        if self._device != device_id:
            return False
        self.use_device(None)
        return True

    def close(self) -> None:
        if self._output is not None:
            self._output.close()
            self._output = None
