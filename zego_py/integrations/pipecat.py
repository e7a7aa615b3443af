"""A pipecat transport for zego_py rooms: a voice agent sits in a room as one more user.

    transport = ZegoTransport(server=URL, appID=APP_ID, token=TOKEN, roomID="room1",
                              userID="agent", params=ZegoParams(audio_in_enabled=True,
                                                                audio_out_enabled=True))
    pipeline = Pipeline([transport.input(), stt, llm, tts, transport.output()])

It follows pipecat's LiveKit and Daily transports: one room client (an engine) shared by
the input and the output processor, which join the room in ``setup`` and leave on
End/Cancel.  The input plays every other user's stream (or those of
``ZegoParams.audio_in_users``) to code only and pushes each as ``UserAudioRawFrame``s
(``InputAudioRawFrame``s tagged with the publisher's userID), or all mixed into one stream
of ``InputAudioRawFrame``s, at ``audio_in_sample_rate``.
The output publishes one stream (``ZegoParams.audio_out_stream_id``, default
``f"{userID}_main"``) from an ``AudioSource`` fed with the ``OutputAudioRawFrame``s it
gets; an ``InterruptionFrame`` clears that source's queue (barge-in).  Room events become
transport events (``on_participant_joined``, ``on_participant_left``,
``on_first_participant_joined``, ...).  docs/agents.md has the parameters and figures.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import av
import numpy as np

try:
    from aiortc.mediastreams import MediaStreamError
    from loguru import logger
    from pipecat.frames.frames import (
        BotConnectedFrame,
        CancelFrame,
        ClientConnectedFrame,
        EndFrame,
        Frame,
        InputAudioRawFrame,
        InterruptionFrame,
        OutputAudioRawFrame,
        StartFrame,
        UserAudioRawFrame,
    )
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessorSetup
    from pipecat.transports.base_input import BaseInputTransport
    from pipecat.transports.base_output import BaseOutputTransport
    from pipecat.transports.base_transport import BaseTransport, TransportParams
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the extra
    raise ModuleNotFoundError(
        f"{exc.name} is missing: zego_py.integrations.pipecat needs the `pipecat` extra "
        "(pip install 'zego_py[pipecat]')"
    ) from exc

from ..engine import ZegoExpressEngine
from ..media.pcm import int16_to_frame
from ..media.sources import AudioSource
from ..types import ZegoUser

__all__ = ["ZegoParams", "ZegoTransport"]

ROOM_RATE = 48000  # what audioFrames() yields: mono int16 at 48 kHz
PUBLISH_TIMEOUT_S = 10.0
MIX_WAIT_FRAMES = 3  # 60 ms: how long the mix waits for a stream that has sent nothing
EVENTS = (
    "on_connected",
    "on_disconnected",
    "on_participant_joined",
    "on_participant_left",
    "on_participant_connected",
    "on_participant_disconnected",
    "on_first_participant_joined",
    "on_client_connected",
    "on_client_disconnected",
    "on_audio_track_subscribed",
    "on_audio_track_unsubscribed",
)
LOST_REASONS = ("KICKOUT", "RECONNECT_FAILED")  # roomStateChanged reasons that end the session

EventCaller = Callable[..., Awaitable[None]]


class ZegoParams(TransportParams):
    """pipecat's ``TransportParams`` plus what a zego_py room needs.

    Attributes:
        audio_out_10ms_chunks: 2 here, one room frame (pipecat's default of 4 holds every
            reply's start back until 40 ms are buffered).
        audio_in_users: userIDs whose streams the input plays; ``None`` (default) plays
            every other user's.
        audio_in_user_tracks: push each stream's audio as its own ``UserAudioRawFrame``s
            (the default, as on LiveKit and Daily); False mixes the streams into one
            stream of ``InputAudioRawFrame``s, for a pipeline with one VAD and one STT.
        audio_out_stream_id: the streamID the output publishes (default
            ``f"{userID}_main"``).
        audio_out_queue_size_ms: how far ahead of real time the output may queue audio in
            its ``AudioSource``.  Small keeps pipecat's bot-speaking frames in step with what
            the room hears; an interruption drops the queue whatever its size.
        user_name: the ``userName`` shown to others (default: the userID).
        engine_options: ``ZegoExpressEngine`` options (``hostAddresses``, ``iceServers``,
            ...).
    """

    audio_out_10ms_chunks: int = 2
    audio_in_users: list[str] | None = None
    audio_in_user_tracks: bool = True
    audio_out_stream_id: str | None = None
    audio_out_queue_size_ms: int = 200
    user_name: str | None = None
    engine_options: dict[str, Any] | None = None


def _participant(user: dict[str, Any]) -> dict[str, Any]:
    """A room user in the shape of Daily's participant dicts (``id``, ``info.userName``)."""
    return {"id": user["userID"], "info": {"userName": user.get("userName") or user["userID"]}}


class _RoomAudioConverter:
    """``audioFrames()`` PCM (48 kHz mono) to pipecat's input rate and channels.

    PyAV's swresample, as AudioSource uses: it holds back about 1 ms, where pipecat's
    default stream resampler (soxr VHQ) holds back 37 ms at 48 -> 16 kHz.
    """

    def __init__(self, rate: int, channels: int) -> None:
        layout = {1: "mono", 2: "stereo"}[channels]
        self._resampler = (None if rate == ROOM_RATE and channels == 1
                           else av.AudioResampler(format="s16", layout=layout, rate=rate))

    def convert(self, pcm: np.ndarray) -> bytes:
        if self._resampler is None:
            return pcm.tobytes()
        frames = self._resampler.resample(int16_to_frame(pcm, None))
        return b"".join(frame.to_ndarray().tobytes() for frame in frames)


class _StreamMixer:
    """The played streams' 20 ms frames, mixed into one stream as they arrive.

    A frame is mixed once every stream has one waiting, so the mix keeps the streams' pace;
    a stream with nothing waiting while another has ``MIX_WAIT_FRAMES`` is left out until
    it sends again (it stopped, or its network is late), as LiveKit's participant mixer does.
    """

    def __init__(self) -> None:
        self._waiting: dict[str, deque[np.ndarray]] = {}

    def add(self, stream_id: str, pcm: np.ndarray) -> list[np.ndarray]:
        """Queue one frame of ``stream_id``; returns the mixed frames now complete."""
        self._waiting.setdefault(stream_id, deque()).append(pcm)
        mixed = []
        while any(self._waiting.values()):
            if not all(self._waiting.values()):
                if max(len(q) for q in self._waiting.values()) < MIX_WAIT_FRAMES:
                    break
                for silent in [s for s, q in self._waiting.items() if not q]:
                    del self._waiting[silent]  # out of the mix until it sends again
            frames = [q.popleft().astype(np.int32) for q in self._waiting.values()]
            mixed.append(np.clip(np.sum(frames, axis=0), -32768, 32767).astype(np.int16))
        return mixed

    def remove(self, stream_id: str) -> None:
        self._waiting.pop(stream_id, None)


class _ZegoRoomClient:
    """One engine logged into the room, shared by the input and output processors.

    ``connect``/``disconnect`` count their callers (LiveKit's client does the same), so the
    room is joined once and left when the last processor stops.
    """

    def __init__(self, server: str, appID: int, token: str, roomID: str,  # noqa: N803
                 userID: str, params: ZegoParams, call_event: EventCaller) -> None:  # noqa: N803
        self.server = server
        self.app_id = appID
        self.token = token
        self.room_id = roomID
        self.user_id = userID
        self.params = params
        self.call_event = call_event  # the transport's _on_room_event
        self.engine: ZegoExpressEngine | None = None
        self.streams: dict[str, str] = {}  # streamID -> publisher userID, as the room has them
        self.users: set[str] = set()
        self.stream_listener: Callable[[str, str, str], None] | None = None
        self._connections = 0
        self._first_joined = False
        self._lock = asyncio.Lock()

    async def connect(self) -> None:
        async with self._lock:
            self._connections += 1
            if self.engine is not None:
                return
            engine = ZegoExpressEngine(self.app_id, self.server,
                                       options=dict(self.params.engine_options or {}))
            engine.on("roomUserUpdate", self._on_user_update)
            engine.on("roomStreamUpdate", self._on_stream_update)
            engine.on("roomStateChanged", self._on_room_state)
            self.engine = engine
            user: ZegoUser = {"userID": self.user_id,
                              "userName": self.params.user_name or self.user_id}
            try:
                await engine.loginRoom(self.room_id, self.token, user, {"userUpdate": True})
            except BaseException:
                self.engine = None
                await engine.close()
                raise
            logger.info(f"zego: {self.user_id} joined room {self.room_id}")
        await self.call_event("on_connected")

    async def disconnect(self) -> None:
        async with self._lock:
            self._connections = max(0, self._connections - 1)
            engine = self.engine
            if self._connections or engine is None:
                return
            self.engine = None
            self.stream_listener = None
            self.streams.clear()
            self.users.clear()
            self._first_joined = False
            await engine.close()  # logs out, stops publishing and playing
        await self.call_event("on_disconnected")

    def set_stream_listener(self, listener: Callable[[str, str, str], None] | None) -> None:
        """``listener(kind, streamID, userID)``; streams already in the room arrive as ADDs."""
        self.stream_listener = listener
        if listener is not None:
            for stream_id, user_id in list(self.streams.items()):
                listener("ADD", stream_id, user_id)

    async def _on_user_update(self, roomID: str, updateType: str,  # noqa: N803
                              userList: list[dict[str, Any]]) -> None:  # noqa: N803
        for user in userList:
            participant = _participant(user)
            if updateType == "ADD":
                self.users.add(user["userID"])
                if not self._first_joined:  # Daily's order: first, joined, client_connected
                    self._first_joined = True
                    await self.call_event("on_first_participant_joined", participant)
                await self.call_event("on_participant_joined", participant)
                await self.call_event("on_participant_connected", user["userID"])
                await self.call_event("on_client_connected", participant)
            else:
                self.users.discard(user["userID"])
                if not self.users:
                    self._first_joined = False
                await self.call_event("on_participant_left", participant, "left")
                await self.call_event("on_participant_disconnected", user["userID"])
                await self.call_event("on_client_disconnected", participant)

    def _on_stream_update(self, roomID: str, updateType: str,  # noqa: N803
                          streamList: list[dict[str, Any]], extendedData: str) -> None:  # noqa: N803
        for stream in streamList:
            stream_id, user_id = stream["streamID"], stream["user"]["userID"]
            if updateType == "ADD":
                self.streams[stream_id] = user_id
            else:
                self.streams.pop(stream_id, None)
            if self.stream_listener is not None:
                self.stream_listener(updateType, stream_id, user_id)

    async def _on_room_state(self, roomID: str, reason: str, errorCode: int,  # noqa: N803
                             extendedData: str) -> None:  # noqa: N803
        if reason in LOST_REASONS:
            logger.warning(f"zego: left room {roomID}: {reason} ({errorCode})")
            await self.call_event("on_disconnected")


class ZegoInputTransport(BaseInputTransport):
    """Plays the room's streams and pushes their audio as ``UserAudioRawFrame``s."""

    def __init__(self, transport: ZegoTransport, client: _ZegoRoomClient, params: ZegoParams,
                 **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self._transport = transport
        self._client = client
        self._zego_params = params
        self._players: dict[str, asyncio.Task[None]] = {}
        self._joined = False
        self._mixer = _StreamMixer()
        self._mix_converter: _RoomAudioConverter | None = None  # the mix is one stream
        self._started = False

    # pipecat's own FrameProcessor.setup narrows BaseObject.setup the same way
    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]
        await super().setup(setup)
        await self._client.connect()
        self._joined = True

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        self._mix_converter = _RoomAudioConverter(self.sample_rate, self._params.audio_in_channels)
        await self.set_transport_ready(frame)  # the audio queue exists from here on
        self._started = True
        # the frames pipecat's observers (startup timing, latency) expect from a transport
        await self.push_frame(BotConnectedFrame())
        for _ in self._client.users:
            await self.push_frame(ClientConnectedFrame())
        if self._params.audio_in_enabled:
            self._client.set_stream_listener(self._on_stream)

    async def push_client_connected(self) -> None:
        """A user joined: ``ClientConnectedFrame`` downstream, once the pipeline runs."""
        if self._started:
            await self.push_frame(ClientConnectedFrame())

    async def stop(self, frame: EndFrame) -> None:
        await super().stop(frame)
        await self._teardown()

    async def cancel(self, frame: CancelFrame) -> None:
        await super().cancel(frame)
        await self._teardown()

    async def cleanup(self) -> None:
        await super().cleanup()
        await self._teardown()
        await self._transport.cleanup()  # waits for the event handlers still running

    async def _teardown(self) -> None:
        """Stop playing and leave (idempotent: stop, cancel and cleanup all end here)."""
        self._started = False
        if self._client.stream_listener == self._on_stream:
            self._client.set_stream_listener(None)
        players, self._players = self._players, {}
        for task in players.values():
            await self.cancel_task(task)
        if self._joined:
            self._joined = False
            await self._client.disconnect()

    def _wanted(self, user_id: str) -> bool:
        users = self._zego_params.audio_in_users
        return user_id != self._client.user_id and (users is None or user_id in users)

    def _on_stream(self, kind: str, stream_id: str, user_id: str) -> None:
        if kind == "ADD" and self._wanted(user_id) and stream_id not in self._players:
            self._players[stream_id] = self.create_task(self._play(stream_id, user_id),
                                                        f"play {stream_id}")
        elif kind == "DELETE" and stream_id in self._players and self._client.engine:
            self._client.engine.stopPlayingStream(stream_id)  # ends audioFrames()

    async def _play(self, stream_id: str, user_id: str) -> None:
        engine = self._client.engine
        assert engine is not None
        converter = _RoomAudioConverter(self.sample_rate, self._params.audio_in_channels)
        try:
            remote = await engine.startPlayingStream(stream_id, {"speaker": False})
            await self._client.call_event("on_audio_track_subscribed", user_id)
            async for pcm in remote.audioFrames():
                if self._zego_params.audio_in_user_tracks:
                    await self._push(converter.convert(pcm), user_id)
                else:
                    assert self._mix_converter is not None  # made in start()
                    for mixed in self._mixer.add(stream_id, pcm):
                        await self._push(self._mix_converter.convert(mixed), None)
        except Exception as exc:  # one stream failing must not end the pipeline
            logger.warning(f"zego: cannot play {stream_id}: {exc}")
        finally:
            self._players.pop(stream_id, None)
            self._mixer.remove(stream_id)
        await self._client.call_event("on_audio_track_unsubscribed", user_id)

    async def _push(self, audio: bytes, user_id: str | None) -> None:
        """One frame downstream: a user's, or (``user_id`` None) the room's mix."""
        if not audio:
            return
        channels = self._params.audio_in_channels
        frame = (InputAudioRawFrame(audio=audio, sample_rate=self.sample_rate,
                                    num_channels=channels) if user_id is None
                 else UserAudioRawFrame(user_id=user_id, audio=audio,
                                        sample_rate=self.sample_rate, num_channels=channels))
        await self.push_audio_frame(frame)


class ZegoOutputTransport(BaseOutputTransport):
    """Publishes the bot's stream from the ``OutputAudioRawFrame``s it gets."""

    def __init__(self, transport: ZegoTransport, client: _ZegoRoomClient, params: ZegoParams,
                 **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self._transport = transport
        self._client = client
        self._zego_params = params
        self._source: AudioSource | None = None
        self._local: Any = None
        self._joined = False

    @property
    def stream_id(self) -> str:
        return self._zego_params.audio_out_stream_id or f"{self._client.user_id}_main"

    # pipecat's own FrameProcessor.setup narrows BaseObject.setup the same way
    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]
        await super().setup(setup)
        await self._client.connect()
        self._joined = True

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        if self._params.audio_out_enabled:
            await self._publish()
        await self.set_transport_ready(frame)

    async def _publish(self) -> None:
        """Publish, and return once PUBLISHING, so no audio is queued before the sender runs."""
        engine = self._client.engine
        assert engine is not None
        self._source = AudioSource(self.sample_rate, self._params.audio_out_channels,
                                   queueSizeMs=self._zego_params.audio_out_queue_size_ms)
        self._local = await engine.createStream({"custom": {"source": self._source}})
        publishing = asyncio.get_running_loop().create_future()

        def on_state(result: dict[str, Any]) -> None:
            if result["streamID"] == self.stream_id and result["state"] != "PUBLISH_REQUESTING":
                if not publishing.done():
                    publishing.set_result(result)

        engine.on("publisherStateUpdate", on_state)
        try:
            engine.startPublishingStream(self.stream_id, self._local)
            result = await asyncio.wait_for(publishing, PUBLISH_TIMEOUT_S)
            error = "" if result["state"] == "PUBLISHING" else f"error {result['errorCode']}"
        except TimeoutError:
            error = f"not PUBLISHING after {PUBLISH_TIMEOUT_S:.0f} s"
        finally:
            engine.off("publisherStateUpdate", on_state)
        if error:  # the output cannot do its job: pipecat's worker decides what follows
            self._source = None
            await self.push_error(f"zego: cannot publish {self.stream_id}: {error}",
                                  force_treat_as_permanent=True)

    async def stop(self, frame: EndFrame) -> None:
        await super().stop(frame)  # writes out what pipecat holds, then the end silence
        if self._source is not None:  # and the room hears what the AudioSource holds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._source.waitForPlayout(),
                                       self._zego_params.audio_out_queue_size_ms / 1000 + 1)
        await self._teardown()

    async def cancel(self, frame: CancelFrame) -> None:
        await super().cancel(frame)
        await self._teardown()

    async def cleanup(self) -> None:
        await super().cleanup()
        await self._teardown()
        await self._transport.cleanup()  # waits for the event handlers still running

    async def _teardown(self) -> None:
        """Stop publishing and leave (idempotent: stop, cancel and cleanup all end here)."""
        source, self._source = self._source, None
        engine = self._client.engine
        if source is not None:
            source.stop()
            if engine is not None:
                engine.stopPublishingStream(self.stream_id)
                engine.destroyStream(self._local)
        if self._joined:
            self._joined = False
            await self._client.disconnect()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """As pipecat's, and an interruption also drops what the ``AudioSource`` holds."""
        await super().process_frame(frame, direction)
        if isinstance(frame, InterruptionFrame) and self._source is not None:
            self._source.clearQueue()

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        """Queue one chunk; waits while the source holds ``audio_out_queue_size_ms``."""
        if self._source is None:
            return False
        pcm = np.frombuffer(frame.audio, np.int16)
        if frame.num_channels > 1:
            pcm = pcm.reshape(-1, frame.num_channels)
        try:
            await self._source.captureFrame(pcm)
        except MediaStreamError:
            return False
        return True


class ZegoTransport(BaseTransport):
    """A zego_py room as a pipecat transport.

    Events (handlers get the transport first, as everywhere in pipecat):

    - on_connected / on_disconnected: the bot joined / left (or lost) the room.
    - on_participant_joined(participant) / on_participant_left(participant, reason): a user
      entered or left; ``participant`` is ``{"id": userID, "info": {"userName": ...}}``.
    - on_first_participant_joined(participant): the first user since the room was empty.
    - on_client_connected / on_client_disconnected(participant): aliases, as on Daily.
    - on_participant_connected / on_participant_disconnected(userID): the same, with
      LiveKit's argument (the participant's identity), so a LiveKit bot's handlers port.
    - on_audio_track_subscribed / on_audio_track_unsubscribed(userID): the input started /
      stopped playing a stream of that user.
    """

    def __init__(self, *, server: str, appID: int, token: str, roomID: str,  # noqa: N803
                 userID: str, params: ZegoParams | None = None,  # noqa: N803
                 input_name: str | None = None, output_name: str | None = None) -> None:
        super().__init__(input_name=input_name, output_name=output_name)
        self._params = params or ZegoParams()
        self._client = _ZegoRoomClient(server, appID, token, roomID, userID, self._params,
                                       self._on_room_event)
        self._input: ZegoInputTransport | None = None
        self._output: ZegoOutputTransport | None = None
        for name in EVENTS:
            self._register_event_handler(name)

    async def _on_room_event(self, event: str, *args: Any) -> None:
        """The handlers of a room event, and for a user joining, pipecat's frame for it."""
        await self._call_event_handler(event, *args)
        if event == "on_client_connected" and self._input is not None:
            await self._input.push_client_connected()

    def input(self) -> ZegoInputTransport:
        if self._input is None:
            self._input = ZegoInputTransport(self, self._client, self._params,
                                             name=self._input_name)
        return self._input

    def output(self) -> ZegoOutputTransport:
        if self._output is None:
            self._output = ZegoOutputTransport(self, self._client, self._params,
                                               name=self._output_name)
        return self._output

    @property
    def engine(self) -> ZegoExpressEngine | None:
        """The room's engine while connected, for everything else ZEGO offers (messages...)."""
        return self._client.engine

    def get_client_id(self, client: Any) -> str:
        return str(client["id"])

    def get_participants(self) -> list[str]:
        """userIDs of the other users in the room."""
        return sorted(self._client.users)

    async def send_audio(self, frame: OutputAudioRawFrame) -> None:
        if self._output is not None:
            await self._output.queue_frame(frame, FrameDirection.DOWNSTREAM)

