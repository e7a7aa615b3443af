"""The voice chat's state and its terminal view, separate from the engine so it can be tested.

``ChatState`` is a plain dataclass that the example's event handlers update, one method
per ZEGO event (each returns a one-line description for plain-log output, or None for
events too frequent to log).  ``render(state)`` turns it into a rich renderable for
``rich.live.Live``; ``summary(state)`` is the plain-text report printed at exit.

Nothing here touches the network, devices or a terminal.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

__all__ = ["ChatState", "Peer", "StreamInfo", "level_bar", "render", "summary"]

SPEAKING_LEVEL = 30.0
"""Sound level (0..100, about -42 dBFS) above which someone counts as speaking."""

BAR_WIDTH = 20
_PARTIAL = " ▏▎▍▌▋▊▉"


@dataclass
class StreamInfo:
    """One stream announced in the room (kept after it ends, for the summary)."""

    stream_id: str
    user_id: str
    active: bool = True
    player_state: str = "NO_PLAY"
    mic: str = "OPEN"
    level: float = 0.0
    level_peak: float = 0.0
    level_sum: float = 0.0
    level_reports: int = 0
    bitrate_kbps: float | None = None
    loss_pct: float | None = None
    quality: int | None = None
    quality_reports: int = 0
    error: str = ""
    video_size: str = ""  # "320x240" once playQualityUpdate reports video
    video_fps: float = 0.0
    video_kbps: float = 0.0
    video_frames: int = 0  # frames videoFrames() yielded (voice_chat --video)
    video_out_of_order: int = 0

    @property
    def level_mean(self) -> float:
        return self.level_sum / self.level_reports if self.level_reports else 0.0

    def add_level(self, level: float) -> None:
        self.level = level
        self.level_peak = max(self.level_peak, level)
        self.level_sum += level
        self.level_reports += 1


@dataclass
class Peer:
    """Another user in the room."""

    user_id: str
    user_name: str = ""
    present: bool = True
    stream_id: str | None = None  # the stream being played for this user, if any

    @property
    def label(self) -> str:
        if self.user_name and self.user_name != self.user_id:
            return f"{self.user_name} [{self.user_id}]"
        return self.user_id


@dataclass
class ChatState:
    room_id: str
    user_id: str
    user_name: str = ""
    server: str = ""
    room_state: str = "DISCONNECTED"
    room_error: str = ""
    was_connected: bool = False
    left_room: bool = False  # we logged out (rather than losing the room)
    publish_stream: str | None = None
    publish_source: str = "microphone"  # "microphone", a file name, or "" for listen-only
    publisher_state: str = "NO_PUBLISH"
    mic_muted: bool = False
    my_level: float = 0.0
    publish_bitrate_kbps: float | None = None
    publish_loss_pct: float | None = None
    publish_quality_reports: int = 0
    processing: str = ""  # e.g. "AEC+NS+AGC", or a hint when unavailable
    keys_enabled: bool = False
    peers: dict[str, Peer] = field(default_factory=dict)
    streams: dict[str, StreamInfo] = field(default_factory=dict)
    joined: list[str] = field(default_factory=list)  # every user seen, in order
    left: list[str] = field(default_factory=list)
    log: deque[str] = field(default_factory=lambda: deque(maxlen=6))
    started_at: float = field(default_factory=time.monotonic)
    ended_at: float | None = None
    recording: str = ""

    # ------------------------------------------------------------------ helpers
    def elapsed(self) -> float:
        return (self.ended_at or time.monotonic()) - self.started_at

    def note(self, message: str) -> str:
        """Add a line to the view's log; returns it (for plain output)."""
        self.log.append(f"{self.elapsed():5.1f}s {message}")
        return message

    def _peer(self, user: dict[str, Any]) -> Peer:
        user_id = str(user.get("userID", "?"))
        peer = self.peers.get(user_id)
        if peer is None:
            peer = self.peers[user_id] = Peer(user_id, str(user.get("userName") or ""))
        if user_id not in self.joined:
            self.joined.append(user_id)
        return peer

    def label(self, user_id: str) -> str:
        peer = self.peers.get(user_id)
        return peer.label if peer else user_id

    # ------------------------------------------------------------------ room events
    def room_state_update(self, room_id: str, state: str, error_code: int,
                          extended_data: str) -> str:
        self.room_state = state
        self.was_connected = self.was_connected or state == "CONNECTED"
        self.room_error = f"{error_code} {extended_data}".strip() if error_code else ""
        suffix = f" (error {self.room_error})" if error_code else ""
        return self.note(f"room {room_id}: {state}{suffix}")

    def room_user_update(self, room_id: str, update_type: str,
                         users: list[dict[str, Any]]) -> str:
        names = []
        for user in users:
            peer = self._peer(user)
            peer.present = update_type == "ADD"
            if not peer.present and peer.user_id not in self.left:
                self.left.append(peer.user_id)
            names.append(peer.label)
        verb = "joined" if update_type == "ADD" else "left"
        return self.note(f"{', '.join(names)} {verb}")

    def room_stream_update(self, room_id: str, update_type: str,
                           streams: list[dict[str, Any]], extended_data: str = "") -> str:
        ids = []
        for stream in streams:
            stream_id = str(stream["streamID"])
            peer = self._peer(stream.get("user") or {})
            ids.append(stream_id)
            if update_type == "ADD":
                self.streams[stream_id] = StreamInfo(stream_id, peer.user_id)
                peer.stream_id = stream_id
            else:
                info = self.streams.get(stream_id)
                if info is not None:
                    info.active = False
                    info.level = 0.0
                if peer.stream_id == stream_id:
                    peer.stream_id = None
        verb = "new stream" if update_type == "ADD" else "stream ended"
        return self.note(f"{verb}: {', '.join(ids)}")

    # ------------------------------------------------------------------ media events
    def publisher_state_update(self, result: dict[str, Any]) -> str:
        self.publisher_state = str(result["state"])
        code = result.get("errorCode") or 0
        suffix = f" (error {code} {result.get('extendedData', '')})" if code else ""
        return self.note(f"publishing {result['streamID']}: {self.publisher_state}{suffix}")

    def player_state_update(self, result: dict[str, Any]) -> str:
        stream_id = str(result["streamID"])
        info = self.streams.get(stream_id)
        code = result.get("errorCode") or 0
        if info is not None:
            info.player_state = str(result["state"])
            if code:
                info.error = f"{code} {result.get('extendedData', '')}".strip()
        suffix = f" (error {code} {result.get('extendedData', '')})" if code else ""
        return self.note(f"playing {stream_id}: {result['state']}{suffix}")

    def play_failed(self, stream_id: str, error: str) -> str:
        info = self.streams.get(stream_id)
        if info is not None:
            info.error = error
        return self.note(f"cannot play {stream_id}: {error}")

    def sound_level_update(self, levels: list[dict[str, Any]]) -> None:
        for item in levels:
            level = float(item.get("soundLevel", 0.0))
            if item.get("type") == "push":
                self.my_level = level
                continue
            info = self.streams.get(str(item.get("streamID")))
            if info is not None and info.active:
                info.add_level(level)

    def captured_sound_level_update(self, level: float) -> None:
        self.my_level = float(level)

    def remote_mic_status_update(self, stream_id: str, status: str) -> str:
        info = self.streams.get(stream_id)
        if info is not None:
            info.mic = status
        who = self.label(info.user_id) if info else stream_id
        return self.note(f"{who} {'muted' if status == 'MUTE' else 'unmuted'} the mic")

    def play_quality_update(self, stream_id: str, stats: dict[str, Any]) -> None:
        info = self.streams.get(stream_id)
        if info is None:
            return
        audio = stats.get("audio", {})
        info.quality_reports += 1
        if info.quality_reports == 1 and not audio.get("audioBitrate"):
            return  # the first report has no rates yet (they are deltas between reports)
        info.bitrate_kbps = float(audio.get("audioBitrate", 0.0))
        info.loss_pct = float(audio.get("audioPacketsLostRate", 0.0))
        info.quality = int(audio.get("audioQuality", -1))
        video = stats.get("video", {})
        if video.get("frameWidth"):
            info.video_size = f"{video['frameWidth']}x{video['frameHeight']}"
            info.video_fps = float(video.get("videoFPS", 0.0))
            info.video_kbps = float(video.get("videoBitrate", 0.0))

    def video_frame(self, stream_id: str, in_order: bool) -> None:
        info = self.streams.get(stream_id)
        if info is not None:
            info.video_frames += 1
            info.video_out_of_order += not in_order

    def publish_quality_update(self, stream_id: str, stats: dict[str, Any]) -> None:
        audio = stats.get("audio", {})
        self.publish_quality_reports += 1
        if self.publish_quality_reports == 1 and not audio.get("audioBitrate"):
            return
        self.publish_bitrate_kbps = float(audio.get("audioBitrate", 0.0))
        self.publish_loss_pct = float(audio.get("audioPacketsLostRate", 0.0))

    def set_muted(self, muted: bool) -> str:
        self.mic_muted = muted
        return self.note("you muted the mic" if muted else "you unmuted the mic")


# ---------------------------------------------------------------------- view
def level_bar(level: float, width: int = BAR_WIDTH) -> str:
    """A bar of ``width`` cells for a 0..100 level, with eighth-cell resolution."""
    eighths = round(max(0.0, min(100.0, level)) / 100 * width * 8)
    full, rest = divmod(eighths, 8)
    bar = "█" * full + (_PARTIAL[rest] if rest else "")
    return bar.ljust(width)


_STATE_STYLE = {"CONNECTED": "bold green", "CONNECTING": "yellow", "DISCONNECTED": "bold red"}
_QUALITY = {0: "excellent", 1: "good", 2: "medium", 3: "poor", 4: "very poor"}


def _level_cell(level: float, muted: bool = False) -> Text:
    if muted:
        return Text("muted".ljust(BAR_WIDTH + 4), style="dim")
    style = "bold green" if level >= SPEAKING_LEVEL else "green" if level > 5 else "dim"
    return Text(f"{level_bar(level)} {level:3.0f}", style=style)


def _quality_cell(kbps: float | None, loss: float | None) -> str:
    if kbps is None:
        return "-"
    return f"{kbps:5.1f} kbps {loss or 0.0:4.1f}%"


def _video_cell(info: StreamInfo) -> str:
    if not info.video_size:
        return "-"
    return f"{info.video_size} {info.video_fps:.0f}fps {info.video_kbps:.0f}k"


def _header(state: ChatState) -> Text:
    text = Text()
    text.append("room ", style="dim")
    text.append(state.room_id, style="bold")
    text.append("  you ", style="dim")
    text.append(state.user_id, style="bold cyan")
    text.append("  ")
    text.append(f"● {state.room_state}", style=_STATE_STYLE.get(state.room_state, "yellow"))
    if state.room_error:
        text.append(f" ({state.room_error})", style="red")
    text.append(f"  {state.elapsed():.0f}s", style="dim")
    text.append("\nmic: ", style="dim")
    if not state.publish_source:
        text.append("none (listen-only)", style="yellow")
    elif state.mic_muted:
        text.append("MUTED", style="bold red")
    else:
        text.append("live", style="green")
        if state.publish_source != "microphone":
            text.append(f" from {state.publish_source}")
    if state.processing:
        text.append(f"  audio: {state.processing}", style="dim")
    if state.recording:
        text.append(f"  ● rec {state.recording}", style="red")
    return text


def render(state: ChatState) -> RenderableType:
    """The whole screen: header, one row per participant, recent events, key help."""
    table = Table(expand=True, show_edge=False, pad_edge=False, box=None)
    table.add_column("", width=1)
    table.add_column("participant", ratio=3, no_wrap=True, overflow="ellipsis")
    table.add_column("level", width=BAR_WIDTH + 4, no_wrap=True)
    table.add_column("mic", width=5)
    table.add_column("state", width=11, no_wrap=True)
    table.add_column("quality", width=17, no_wrap=True, justify="right")
    video = any(info.video_size for info in state.streams.values())
    if video:
        table.add_column("video", width=22, no_wrap=True, justify="right")

    mine_speaking = state.my_level >= SPEAKING_LEVEL and not state.mic_muted
    table.add_row(
        Text("▶" if mine_speaking else " ", style="bold green"),
        Text(f"{state.user_name or state.user_id} (you)", style="bold cyan"),
        _level_cell(state.my_level, muted=state.mic_muted) if state.publish_source
        else Text("-", style="dim"),
        "MUTE" if state.mic_muted else ("OPEN" if state.publish_source else "-"),
        state.publisher_state if state.publish_source else "listening",
        _quality_cell(state.publish_bitrate_kbps, state.publish_loss_pct),
        *(["-"] if video else []),
    )
    for peer in state.peers.values():
        if not peer.present:
            continue
        info = state.streams.get(peer.stream_id) if peer.stream_id else None
        if info is None:
            table.add_row(" ", peer.label, Text("-", style="dim"), "-", "no stream", "-",
                          *(["-"] if video else []))
            continue
        muted = info.mic == "MUTE"
        speaking = info.level >= SPEAKING_LEVEL and not muted
        table.add_row(
            Text("▶" if speaking else " ", style="bold green"),
            Text(peer.label, style="bold" if speaking else ""),
            _level_cell(info.level, muted=muted),
            Text(info.mic, style="red" if muted else ""),
            info.player_state if not info.error else "ERROR",
            _quality_cell(info.bitrate_kbps, info.loss_pct),
            *([_video_cell(info)] if video else []),
        )
    present = 1 + sum(p.present for p in state.peers.values())
    body = Group(_header(state), Text(""), table)
    panel = Panel(body, title=f"zego_py voice chat · {present} in the room",
                  title_align="left", border_style="blue")
    log = Text("\n".join(state.log) if state.log else "(no events yet)", style="dim")
    keys = Text("[m] mute/unmute mic   [q] leave" if state.keys_enabled
                else "Ctrl-C to leave", style="bold")
    return Group(panel, log, keys)


def summary(state: ChatState) -> str:
    """What happened during the call, as plain text."""
    lines = [f"--- call summary: room {state.room_id} as {state.user_id}, "
             f"{state.elapsed():.1f} s on {state.server or 'the server'} ---"]
    if state.left_room and state.was_connected:
        connection = "connected, then left with logoutRoom"
    elif state.was_connected:
        connection = f"connected, ended {state.room_state}"
    else:
        connection = f"never connected ({state.room_state})"
    lines.append(f"connection: {connection}"
                 + (f"; last error {state.room_error}" if state.room_error else ""))
    if state.publish_source:
        lines.append(f"published: {state.publish_stream} from {state.publish_source}, "
                     f"last state {state.publisher_state}"
                     + (f", {state.publish_bitrate_kbps:.1f} kbps"
                        if state.publish_bitrate_kbps is not None else ""))
    else:
        lines.append("published: nothing (listen-only)")
    if state.processing:
        lines.append(f"audio processing: {state.processing}")
    joined = [state.label(u) for u in state.joined]
    lines.append(f"joined: {', '.join(joined) if joined else 'nobody else'}")
    if state.left:
        lines.append(f"left: {', '.join(state.label(u) for u in state.left)}")
    if not state.streams:
        lines.append("streams: none")
    for info in state.streams.values():
        quality = (f", {info.bitrate_kbps:.1f} kbps, {info.loss_pct or 0.0:.1f}% loss "
                   f"({_QUALITY.get(info.quality or 0, '?')})"
                   if info.bitrate_kbps is not None else "")
        error = f", error {info.error}" if info.error else ""
        video = ""
        if info.video_size or info.video_frames:
            order = ("in order" if not info.video_out_of_order
                     else f"{info.video_out_of_order} out of order")
            video = (f"; video {info.video_size or '?'} at {info.video_fps:.1f} fps, "
                     f"{info.video_kbps:.0f} kbps, {info.video_frames} frames ({order})")
        lines.append(
            f"stream {info.stream_id} from {state.label(info.user_id)}: "
            f"{'played' if info.level_reports or info.player_state == 'PLAYING' else 'not played'}"
            f", level mean {info.level_mean:.0f} / peak {info.level_peak:.0f}"
            f"{quality}{error}{video}")
    if state.recording:
        lines.append(f"recording: {state.recording}")
    return "\n".join(lines)
