"""The signaling protocol between ZegoExpressEngine and the room server, sans I/O.

Every message type is declared once, here, and used by both ends; docs/protocol.md
describes the same table for people.  This module parses and builds JSON text and
checks each message's shape; it never touches a socket (as in h11 and websockets'
sans-I/O core), so both the engine and the server feed it strings.

Shapes (one JSON object per WebSocket text frame):

- request  (client -> server): ``{"v": 1, "id": 7, "type": "login", ...fields}``
- reply    (server -> client): ``{"v": 1, "id": 7, "type": "reply", "code": 0,
  "message": "", "data": {...}}``; ``code`` is a ZEGO error code, 0 for success
- push     (server -> client): ``{"v": 1, "type": "streamUpdate", ...fields}`` (no id)

Field names on the wire are ZEGO's own (``roomID``, ``streamID``, ``userList``),
so user and stream objects reach event handlers unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, cast

from .errors import ErrorCode, ZegoError

__all__ = [
    "MAX_FRAME_BYTES",
    "PROTOCOL_VERSION",
    "PUSH_FIELDS",
    "REQUEST_FIELDS",
    "ProtocolError",
    "Push",
    "Reply",
    "Request",
    "clip",
    "decode_from_client",
    "decode_from_server",
    "encode_push",
    "encode_reply",
    "encode_request",
]

PROTOCOL_VERSION = 1
# The largest frame either end accepts: an SDP offer is ~1.5 KB, a 1 KB message ~2 KB
# once JSON-escaped.  Larger frames close the socket with 1009 (message too big).
MAX_FRAME_BYTES = 64 * 1024

_OPTIONAL = "optional"

# Field name -> JSON type (with "optional" for fields that may be absent).  ``object``
# means "any JSON value"; nested shapes are checked where ZEGO's rules live
# (zego_py.validation), because their errors carry ZEGO codes of their own.
REQUEST_FIELDS: dict[str, dict[str, Any]] = {
    # rooms
    "login": {"roomID": str, "token": str, "user": dict, "config": (dict, _OPTIONAL)},
    "logout": {"roomID": str},
    "renewToken": {"roomID": str, "token": str},
    # leave fromRoomID and join toRoomID on the same socket, as one step (docs/protocol.md)
    "switchRoom": {"fromRoomID": str, "toRoomID": str, "token": str,
                   "config": (dict, _OPTIONAL)},
    # take back a session whose socket dropped, within the server's grace period
    "resume": {"roomID": str, "sessionKey": int, "resumeToken": str},
    "ping": {},
    # messaging
    "sendBroadcastMessage": {"roomID": str, "message": str},
    "sendBarrageMessage": {"roomID": str, "message": str},
    "sendCustomCommand": {"roomID": str, "command": str, "toUserIDs": list},
    "setRoomExtraInfo": {"roomID": str, "key": str, "value": str},
    # content: the message's bytes in base64 (JSON has no binary); sendMode/sendType as ZEGO's
    "sendTransparentMessage": {"roomID": str, "content": str, "sendMode": int,
                               "sendType": int, "recvUserList": list},
    # streams (sdp: a non-trickle SDP offer; the reply's data carries the answer)
    "publish": {"roomID": str, "streamID": str, "extraInfo": (str, _OPTIONAL), "sdp": str},
    "unpublish": {"streamID": str},
    "setStreamExtraInfo": {"streamID": str, "extraInfo": str},
    "setMicStatus": {"streamID": str, "status": str},
    "setCameraStatus": {"streamID": str, "status": str},
    "play": {"streamID": str, "sdp": str},
    "stopPlay": {"streamID": str},
}

PUSH_FIELDS: dict[str, dict[str, Any]] = {
    "userUpdate": {"roomID": str, "updateType": str, "userList": list},
    "streamUpdate": {
        "roomID": str,
        "updateType": str,
        "streamList": list,
        "extendedData": str,
    },
    "onlineUserCount": {"roomID": str, "count": int},
    "roomExtraInfoUpdate": {"roomID": str, "roomExtraInfoList": list},
    "streamExtraInfoUpdate": {"roomID": str, "streamList": list},
    "broadcastMessage": {"roomID": str, "messageList": list},
    "barrageMessage": {"roomID": str, "messageList": list},
    "customCommand": {"roomID": str, "fromUser": dict, "command": str},
    "transparentMessage": {"roomID": str, "sendUser": dict, "content": str},
    "micStatus": {"streamID": str, "status": str},
    "cameraStatus": {"streamID": str, "status": str},
    # the publisher of a stream this client plays went away; code is a stream_delete_reason
    "playEnded": {"streamID": str, "code": int},
    # the server ends this session (duplicate login, kicked, token expired)
    "kickout": {"roomID": str, "code": int, "message": str},
    # a frame the server could not parse or route to a request id
    "error": {"code": int, "message": str},
}


class ProtocolError(ZegoError):
    """A frame that is not a valid message; ``request_id`` is set when it could be read."""

    def __init__(self, message: str, request_id: int | None = None) -> None:
        super().__init__(ErrorCode.INPUT_PARAM_ERROR, message)
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class Request:
    id: int
    type: str
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reply:
    id: int
    code: int
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Push:
    type: str
    body: dict[str, Any] = field(default_factory=dict)


def _json_type_ok(value: Any, expected: type) -> bool:
    # bool is an int in Python but not in JSON's eyes
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def _check_fields(kind: str, body: dict[str, Any], spec: dict[str, Any], rid: int | None) -> None:
    for name, rule in spec.items():
        expected, optional = (rule[0], True) if isinstance(rule, tuple) else (rule, False)
        if name not in body or body[name] is None:
            if optional:
                continue
            raise ProtocolError(f"{kind}: missing field '{name}'", rid)
        if not _json_type_ok(body[name], expected):
            raise ProtocolError(
                f"{kind}: field '{name}' must be {expected.__name__}", rid
            )


def _has_lone_surrogate(obj: Any) -> bool:
    """True if any string (key or value) holds a lone surrogate such as JSON "\\ud800".

    ``json.loads`` accepts those escapes but the result cannot be encoded as UTF-8, so
    relaying it would fail at send time and drop every recipient's socket.
    """
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def clip(value: object, limit: int = 40) -> str:
    """A peer-controlled value fit for an error message or a log line: an escaped repr
    (no newlines or terminal escapes) of at most ``limit`` characters, plus its length
    when cut, so a hostile peer cannot write unbounded text into replies or logs."""
    text = ascii(value)
    if len(text) <= limit:
        return text
    size = len(value) if isinstance(value, (str, bytes)) else len(text)
    return f"{text[:limit]}...({size} chars)"


def _load_object(text: str | bytes) -> dict[str, Any]:
    if isinstance(text, bytes):
        raise ProtocolError("binary frames are not part of the protocol")
    if len(text) > MAX_FRAME_BYTES:
        raise ProtocolError("frame too large")
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"malformed JSON: {exc.__class__.__name__}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("a message must be a JSON object")
    if _has_lone_surrogate(obj):
        rid = obj.get("id")
        raise ProtocolError("invalid Unicode (lone surrogate)",
                            rid if _json_type_ok(rid, int) else None)
    return obj


def decode_from_client(text: str | bytes) -> Request:
    """Parse and check one client frame; raises ProtocolError with the request id if known."""
    obj = _load_object(text)
    rid = obj.get("id")
    if not _json_type_ok(rid, int):
        raise ProtocolError("a request needs an integer 'id'")
    if obj.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(f"unsupported protocol version {clip(obj.get('v'))}", rid)
    kind = obj.get("type")
    if not isinstance(kind, str) or kind not in REQUEST_FIELDS:
        raise ProtocolError(f"unknown request type {clip(kind)}", rid)
    body = {k: v for k, v in obj.items() if k not in ("v", "id", "type")}
    _check_fields(kind, body, REQUEST_FIELDS[kind], rid)
    return Request(cast(int, rid), kind, body)


def decode_from_server(text: str | bytes) -> Reply | Push:
    """Parse and check one server frame."""
    obj = _load_object(text)
    kind = obj.get("type")
    if kind == "reply":
        rid, code = obj.get("id"), obj.get("code")
        if not _json_type_ok(rid, int) or not _json_type_ok(code, int):
            raise ProtocolError("a reply needs integer 'id' and 'code'")
        data = obj.get("data") or {}
        if not isinstance(data, dict):
            raise ProtocolError("reply 'data' must be an object")
        return Reply(cast(int, rid), cast(int, code), str(obj.get("message", "")), data)
    if not isinstance(kind, str) or kind not in PUSH_FIELDS:
        raise ProtocolError(f"unknown push type {clip(kind)}")
    body = {k: v for k, v in obj.items() if k not in ("v", "type")}
    _check_fields(kind, body, PUSH_FIELDS[kind], None)
    return Push(kind, body)


def _dump(obj: dict[str, Any]) -> str:
    """Compact JSON; a lone surrogate is refused here too, since websockets would fail
    to encode the frame and close the socket (an app's own bad string would cost it its
    connection)."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ProtocolError("invalid Unicode (lone surrogate)") from None
    return text


def encode_request(request: Request) -> str:
    if request.type not in REQUEST_FIELDS:
        raise ValueError(f"unknown request type {request.type!r}")
    return _dump({"v": PROTOCOL_VERSION, "id": request.id, "type": request.type, **request.body})


def encode_reply(reply: Reply) -> str:
    return _dump(
        {
            "v": PROTOCOL_VERSION,
            "id": reply.id,
            "type": "reply",
            "code": int(reply.code),
            "message": reply.message,
            "data": reply.data,
        }
    )


def encode_push(push: Push) -> str:
    if push.type not in PUSH_FIELDS:
        raise ValueError(f"unknown push type {push.type!r}")
    return _dump({"v": PROTOCOL_VERSION, "type": push.type, **push.body})
