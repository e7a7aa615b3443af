"""The sans-I/O protocol: round trips and hostile frames, with no sockets."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zego_py.errors import ErrorCode
from zego_py.protocol import (
    MAX_FRAME_BYTES,
    PUSH_FIELDS,
    REQUEST_FIELDS,
    ProtocolError,
    Push,
    Reply,
    Request,
    decode_from_client,
    decode_from_server,
    encode_push,
    encode_reply,
    encode_request,
)

_SAMPLE = {str: "x", int: 3, bool: True, dict: {"userID": "u"}, list: ["a"]}


def _sample_body(spec: dict[str, object]) -> dict[str, object]:
    return {name: _SAMPLE[rule[0] if isinstance(rule, tuple) else rule]  # type: ignore[index]
            for name, rule in spec.items()}


@pytest.mark.parametrize("kind", sorted(REQUEST_FIELDS))
def test_every_request_round_trips(kind: str) -> None:
    request = Request(7, kind, _sample_body(REQUEST_FIELDS[kind]))
    assert decode_from_client(encode_request(request)) == request


@pytest.mark.parametrize("kind", sorted(PUSH_FIELDS))
def test_every_push_round_trips(kind: str) -> None:
    push = Push(kind, _sample_body(PUSH_FIELDS[kind]))
    assert decode_from_server(encode_push(push)) == push


def test_reply_round_trips() -> None:
    reply = Reply(9, ErrorCode.TOKEN_ERROR, "token error", {"a": 1})
    assert decode_from_server(encode_reply(reply)) == reply


@pytest.mark.parametrize(
    ("frame", "rid", "fragment"),
    [
        ("not json", None, "malformed JSON"),
        ("[1,2]", None, "JSON object"),
        ('{"v":1,"type":"ping"}', None, "integer 'id'"),
        ('{"v":1,"id":true,"type":"ping"}', None, "integer 'id'"),
        ('{"v":2,"id":1,"type":"ping"}', 1, "version"),
        ('{"v":1,"id":1,"type":"nope"}', 1, "unknown request type"),
        ('{"v":1,"id":1,"type":"logout"}', 1, "missing field 'roomID'"),
        ('{"v":1,"id":1,"type":"logout","roomID":5}', 1, "must be str"),
        ('{"v":1,"id":1,"type":"renewToken","roomID":"r","token":null}', 1, "missing"),
    ],
)
def test_bad_client_frames(frame: str, rid: int | None, fragment: str) -> None:
    with pytest.raises(ProtocolError) as err:
        decode_from_client(frame)
    assert err.value.request_id == rid
    assert fragment in err.value.message
    assert err.value.code == ErrorCode.INPUT_PARAM_ERROR


def test_oversized_and_binary_frames() -> None:
    with pytest.raises(ProtocolError, match="too large"):
        decode_from_client('{"v":1,"id":1,"type":"ping","pad":"' + "x" * MAX_FRAME_BYTES + '"}')
    with pytest.raises(ProtocolError, match="binary"):
        decode_from_client(b'{"v":1}')


def test_deeply_nested_json_is_rejected_not_crashing() -> None:
    with pytest.raises(ProtocolError):
        decode_from_client("[" * 100_000 + "]" * 100_000)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_decoder_never_raises_anything_else_on_text(text: str) -> None:
    for decode in (decode_from_client, decode_from_server):
        try:
            decode(text)
        except ProtocolError:
            pass


@settings(max_examples=400, deadline=None)
@given(kind=st.sampled_from(sorted(REQUEST_FIELDS) + ["x"]),
       body=st.dictionaries(st.text(max_size=12), json_values, max_size=6),
       rid=json_values, version=st.sampled_from([1, 1, 1, 2, None]))
def test_decoder_checks_shapes_of_arbitrary_objects(kind: str, body: dict[str, object],
                                                    rid: object, version: object) -> None:
    frame = json.dumps({**body, "v": version, "id": rid, "type": kind})
    try:
        request = decode_from_client(frame)
    except ProtocolError:
        return
    # whatever got through has every required field with the declared type
    for name, rule in REQUEST_FIELDS[request.type].items():
        expected = rule[0] if isinstance(rule, tuple) else rule
        if name in request.body and request.body[name] is not None:
            assert isinstance(request.body[name], expected)
        else:
            assert isinstance(rule, tuple)


@pytest.mark.parametrize(
    "frame",
    [
        '{"v":1,"id":4,"type":"sendBroadcastMessage","roomID":"r","message":"a\\ud800"}',
        '{"v":1,"id":4,"type":"login","roomID":"r","token":"t","user":{"userName":"\\udfff"}}',
        '{"v":1,"id":4,"type":"sendCustomCommand","roomID":"r","command":"c",'
        '"toUserIDs":["\\udc00x"]}',
        '{"v":1,"id":4,"type":"ping","\\ud800":1}',
    ],
)
def test_client_frames_with_lone_surrogates_are_rejected(frame: str) -> None:
    with pytest.raises(ProtocolError) as err:
        decode_from_client(frame)
    assert (err.value.code, err.value.request_id) == (ErrorCode.INPUT_PARAM_ERROR, 4)
    assert "Unicode" in err.value.message


def test_server_frames_with_lone_surrogates_are_rejected() -> None:
    push = '{"v":1,"type":"broadcastMessage","roomID":"r","messageList":[{"message":"\\ud800"}]}'
    with pytest.raises(ProtocolError, match="Unicode"):
        decode_from_server(push)
    reply = '{"v":1,"id":1,"type":"reply","code":0,"message":"","data":{"x":["\\udbff"]}}'
    with pytest.raises(ProtocolError, match="Unicode"):
        decode_from_server(reply)


def test_surrogate_pairs_are_valid_unicode() -> None:
    request = decode_from_client(
        '{"v":1,"id":1,"type":"sendBroadcastMessage","roomID":"r","message":"\\ud83d\\ude00"}')
    assert request.body["message"] == "\U0001F600"


def test_error_messages_quote_client_text_bounded() -> None:
    with pytest.raises(ProtocolError) as err:
        decode_from_client(json.dumps({"v": 1, "id": 1, "type": "x\n" * 5000}))
    assert len(err.value.message) < 120 and "\n" not in err.value.message


def test_encoders_refuse_lone_surrogates() -> None:
    with pytest.raises(ProtocolError, match="Unicode"):
        encode_request(Request(1, "sendBroadcastMessage", {"roomID": "r", "message": "\ud800"}))
    with pytest.raises(ProtocolError, match="Unicode"):
        encode_push(Push("error", {"code": 1, "message": "\udfff"}))
    assert "\U0001F600" in encode_reply(Reply(1, 0, "\U0001F600"))
