"""Token04: generator byte layout, known answers, verifier robustness and server policy."""

from __future__ import annotations

import base64
import json
import string
import struct

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mock_server.auth import check_login, check_publish
from zego_py.errors import ErrorCode, ZegoError
from zego_py.token import (
    TokenClaims,
    TokenError,
    decode_token04,
    generateToken04,
    generateToken04GCM,
    makePrivilegePayload,
)

APP_ID = 1234567890
SECRET = "0123456789abcdef0123456789abcdef"
OTHER_SECRET = "fedcba9876543210fedcba9876543210"
NOW = 1_700_000_000
IV_CHARS = set(string.digits + string.ascii_lowercase)

GENERATORS = [generateToken04, generateToken04GCM]


def _binary(token: str) -> bytes:
    assert token.startswith("04")
    return base64.b64decode(token[2:], validate=True)


def _login(
    token: str, *, room: str = "room1", user: str = "alice", now: float = NOW
) -> TokenClaims:
    return check_login(token, app_id=APP_ID, secret=SECRET, room_id=room, user_id=user, now=now)


# ------------------------------------------------------------------ round trip


@pytest.mark.parametrize("gen", GENERATORS)
def test_round_trip_basic(gen: object) -> None:
    token = gen(APP_ID, "alice", SECRET, 3600, _now=NOW)  # type: ignore[operator]
    c = decode_token04(token, SECRET)
    assert (c.app_id, c.user_id, c.ctime, c.expire) == (APP_ID, "alice", NOW, NOW + 3600)
    assert c.payload_raw == "" and not c.has_payload
    assert (c.room_id, c.can_login, c.can_publish, c.stream_ids) == (None, True, True, None)
    assert 0 < c.nonce <= 0x7FFFFFFF


@pytest.mark.parametrize("gen", GENERATORS)
def test_round_trip_privilege_payload(gen: object) -> None:
    payload = makePrivilegePayload("room1", canLogin=True, canPublish=False, streamIDList=["s1"])
    token = gen(APP_ID, "用户", SECRET, 60, payload)  # type: ignore[operator]
    c = decode_token04(token, SECRET)
    assert c.user_id == "用户"
    assert c.payload_raw == payload
    assert (c.room_id, c.can_login, c.can_publish, c.stream_ids) == ("room1", True, False, ("s1",))


def test_privilege_payload_shape() -> None:
    assert json.loads(makePrivilegePayload("r")) == {
        "room_id": "r",
        "privilege": {"1": 1, "2": 1},
        "stream_id_list": None,
    }
    assert json.loads(makePrivilegePayload("r", False, False, ["a", "b"])) == {
        "room_id": "r",
        "privilege": {"1": 0, "2": 0},
        "stream_id_list": ["a", "b"],
    }


def test_tokens_are_randomised() -> None:
    a = generateToken04(APP_ID, "alice", SECRET, 60, _now=NOW)
    b = generateToken04(APP_ID, "alice", SECRET, 60, _now=NOW)
    assert a != b


# ------------------------------------------------------------------ byte layout


def test_cbc_byte_layout() -> None:
    binary = _binary(generateToken04(APP_ID, "alice", SECRET, 3600, "x" * 40, _now=NOW))
    (expire,) = struct.unpack(">q", binary[:8])
    (iv_len,) = struct.unpack(">H", binary[8:10])
    iv = binary[10:26]
    (ct_len,) = struct.unpack(">H", binary[26:28])
    assert expire == NOW + 3600
    assert iv_len == 16
    assert set(iv.decode("ascii")) <= IV_CHARS
    assert ct_len % 16 == 0 and ct_len > 0
    assert len(binary) == 28 + ct_len


def test_gcm_byte_layout() -> None:
    binary = _binary(generateToken04GCM(APP_ID, "alice", SECRET, 3600, _now=NOW))
    (expire,) = struct.unpack(">q", binary[:8])
    (nonce_len,) = struct.unpack(">H", binary[8:10])
    nonce = binary[10:22]
    (ct_len,) = struct.unpack(">H", binary[22:24])
    assert expire == NOW + 3600 and nonce_len == 12
    assert set(nonce.decode("ascii")) <= IV_CHARS
    assert len(binary) == 24 + ct_len + 1
    assert binary[-1] == 1


# ------------------------------------------------------------------ known answers


def _expected_plaintext(payload: str) -> bytes:
    return (
        '{"app_id":1234567890,"user_id":"alice","nonce":424242,'
        f'"ctime":{NOW},"expire":{NOW + 3600},"payload":{json.dumps(payload)}}}'
    ).encode()


def test_cbc_known_answer() -> None:
    iv = "0123456789abcdef"
    token = generateToken04(APP_ID, "alice", SECRET, 3600, "p", _iv=iv, _nonce=424242, _now=NOW)

    padder = padding.PKCS7(128).padder()
    padded = padder.update(_expected_plaintext("p")) + padder.finalize()
    enc = Cipher(algorithms.AES(SECRET.encode()), modes.CBC(iv.encode())).encryptor()
    ct = enc.update(padded) + enc.finalize()
    binary = struct.pack(">qH", NOW + 3600, 16) + iv.encode() + struct.pack(">H", len(ct)) + ct
    assert token == "04" + base64.b64encode(binary).decode()


def test_gcm_known_answer() -> None:
    nonce = "abcdefghijkl"
    token = generateToken04GCM(
        APP_ID, "alice", SECRET, 3600, "p", _iv=nonce, _nonce=424242, _now=NOW
    )
    ct = AESGCM(SECRET.encode()).encrypt(nonce.encode(), _expected_plaintext("p"), None)
    binary = (
        struct.pack(">qH", NOW + 3600, 12)
        + nonce.encode()
        + struct.pack(">H", len(ct))
        + ct
        + b"\x01"
    )
    assert token == "04" + base64.b64encode(binary).decode()


# ------------------------------------------------------------------ generator validation


@pytest.mark.parametrize("gen", GENERATORS)
@pytest.mark.parametrize(
    "args, match",
    [
        ((0, "u", SECRET, 1), "appID"),
        ((-1, "u", SECRET, 1), "appID"),
        ((2**32, "u", SECRET, 1), "appID"),
        ((True, "u", SECRET, 1), "appID"),
        ((APP_ID, "", SECRET, 1), "userID"),
        ((APP_ID, "u", "short", 1), "32 byte"),
        ((APP_ID, "u", "é" * 32, 1), "32 byte"),
        ((APP_ID, "u", SECRET, 0), "effectiveTimeInSeconds"),
        ((APP_ID, "u", SECRET, -5), "effectiveTimeInSeconds"),
    ],
)
def test_generator_rejects_bad_arguments(gen: object, args: tuple[object, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        gen(*args)  # type: ignore[operator]


# ------------------------------------------------------------------ verifier failures


def _assert_token_error(token: str, secret: str = SECRET) -> None:
    """Every failure looks the same to the client: one code, one message (no oracle)."""
    with pytest.raises(TokenError) as info:
        decode_token04(token, secret)
    assert (info.value.code, info.value.message) == (ErrorCode.TOKEN_ERROR, "token error")


def _cbc_token_for_plaintext(plain: bytes) -> str:
    iv = b"0" * 16
    padder = padding.PKCS7(128).padder()
    enc = Cipher(algorithms.AES(SECRET.encode()), modes.CBC(iv)).encryptor()
    ct = enc.update(padder.update(plain) + padder.finalize()) + enc.finalize()
    binary = struct.pack(">qH", NOW, 16) + iv + struct.pack(">H", len(ct)) + ct
    return "04" + base64.b64encode(binary).decode()


@pytest.mark.parametrize(
    "token",
    [
        "",
        "03" + generateToken04(APP_ID, "u", SECRET, 60)[2:],
        "04",
        "04!!!!",
        "04AAAA",
        "04" + base64.b64encode(b"\x00" * 40).decode(),
        generateToken04(APP_ID, "u", SECRET, 60)[:-8],
        generateToken04(APP_ID, "u", SECRET, 60) + "AA==",
        generateToken04GCM(APP_ID, "u", SECRET, 60)[:-4],
    ],
)
def test_malformed_tokens(token: str) -> None:
    _assert_token_error(token)


@pytest.mark.parametrize("gen", GENERATORS)
def test_wrong_secret(gen: object) -> None:
    _assert_token_error(gen(APP_ID, "u", SECRET, 60), OTHER_SECRET)  # type: ignore[operator]


def test_trailing_mode_byte_other_than_gcm_rejected() -> None:
    binary = _binary(generateToken04GCM(APP_ID, "u", SECRET, 60))
    _assert_token_error("04" + base64.b64encode(binary[:-1] + b"\x02").decode())
    # a CBC token with a GCM mode byte appended is not a GCM token
    cbc = _binary(generateToken04(APP_ID, "u", SECRET, 60))
    _assert_token_error("04" + base64.b64encode(cbc + b"\x01").decode())


@pytest.mark.parametrize(
    "plain",
    [
        b"\xff\xfe not utf-8",
        b"not json",
        b"[1, 2]",
        b'{"app_id":"1","user_id":"u","nonce":1,"ctime":1,"expire":%d,"payload":""}' % NOW,
        b'{"app_id":1,"user_id":5,"nonce":1,"ctime":1,"expire":%d,"payload":""}' % NOW,
        b'{"app_id":1,"user_id":"u","nonce":true,"ctime":1,"expire":%d,"payload":""}' % NOW,
        b'{"app_id":1,"user_id":"u","nonce":1,"ctime":1,"expire":%d,"payload":null}' % NOW,
        b'{"app_id":1,"user_id":"u","nonce":1,"ctime":1,"expire":NaN,"payload":""}',
        b'{"app_id":1,"user_id":"u","nonce":1,"ctime":1,"expire":5,"payload":""}',  # != header
        b'{"app_id":1,"user_id":"u","nonce":1,"ctime":1,"expire":%d,"payload":"{"}' % NOW,
        b'{"app_id":1,"user_id":"u","nonce":1,"ctime":1,"expire":%d,"payload":"[]"}' % NOW,
        b'{"app_id":1,"user_id":"u","nonce":1,"ctime":1,"expire":%d,'
        b'"payload":"{\\"privilege\\":{\\"1\\":2}}"}' % NOW,
        b'{"app_id":1,"user_id":"u","nonce":1,"ctime":1,"expire":%d,'
        b'"payload":"{\\"room_id\\":7}"}' % NOW,
        b'{"app_id":1,"user_id":"u","nonce":1,"ctime":1,"expire":%d,'
        b'"payload":"{\\"stream_id_list\\":[1]}"}' % NOW,
        # nested too deeply for the json module (RecursionError)
        b'{"app_id":1,"user_id":"u","nonce":1,"ctime":1,"expire":%d,"payload":"%s"}'
        % (NOW, b"[" * 30_000),
    ],
)
def test_bad_plaintext(plain: bytes) -> None:
    _assert_token_error(_cbc_token_for_plaintext(plain))


def test_decode_rejects_bad_secret_as_value_error() -> None:
    with pytest.raises(ValueError, match="32 byte"):
        decode_token04(generateToken04(APP_ID, "u", SECRET, 60), "short")


# ------------------------------------------------------------------ hypothesis fuzzing

_VALID = [
    generateToken04(APP_ID, "alice", SECRET, 3600, makePrivilegePayload("room1"), _now=NOW),
    generateToken04GCM(APP_ID, "alice", SECRET, 3600, makePrivilegePayload("room1"), _now=NOW),
]


def _only_token_error(token: str) -> None:
    try:
        decode_token04(token, SECRET)
    except ZegoError as err:
        assert err.code == ErrorCode.TOKEN_ERROR


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_fuzz_arbitrary_text(text: str) -> None:
    _only_token_error(text)
    _only_token_error("04" + text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_fuzz_arbitrary_binary(data: bytes) -> None:
    _only_token_error("04" + base64.b64encode(data).decode())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.sampled_from(_VALID),
    edits=st.lists(
        st.tuples(st.integers(min_value=0, max_value=10_000), st.integers(0, 255)),
        min_size=1,
        max_size=4,
    ),
    cut=st.one_of(st.none(), st.integers(min_value=0, max_value=10_000)),
    tail=st.binary(max_size=4),
)
def test_fuzz_mutated_valid_tokens(
    which: str, edits: list[tuple[int, int]], cut: int | None, tail: bytes
) -> None:
    binary = bytearray(_binary(which))
    for pos, value in edits:
        binary[pos % len(binary)] = value
    if cut is not None:
        binary = binary[: cut % (len(binary) + 1)]
    mutated = "04" + base64.b64encode(bytes(binary) + tail).decode()
    try:
        claims = decode_token04(mutated, SECRET)
    except ZegoError as err:
        assert err.code == ErrorCode.TOKEN_ERROR
    else:  # only a no-op mutation can survive the AEAD / padding + JSON checks
        assert claims.user_id == "alice"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.sampled_from(_VALID), pos=st.integers(min_value=0), ch=st.characters())
def test_fuzz_mutated_token_text(which: str, pos: int, ch: str) -> None:
    i = pos % len(which)
    _only_token_error(which[:i] + ch + which[i + 1 :])


# ------------------------------------------------------------------ server policy: login


def _code(fn: object, *args: object, **kwargs: object) -> int:
    with pytest.raises(ZegoError) as info:
        fn(*args, **kwargs)  # type: ignore[operator]
    return int(info.value.code)


@pytest.mark.parametrize("check", [check_login])
@pytest.mark.parametrize("gen", GENERATORS)
def test_login_ok(check: object, gen: object) -> None:
    token = gen(APP_ID, "alice", SECRET, 60, makePrivilegePayload("room1"), _now=NOW)  # type: ignore[operator]
    claims = check(  # type: ignore[operator]
        token, app_id=APP_ID, secret=SECRET, room_id="room1", user_id="alice", now=NOW + 59
    )
    assert claims.room_id == "room1"


def test_login_basic_token_any_room() -> None:
    token = generateToken04(APP_ID, "alice", SECRET, 60, _now=NOW)
    assert _login(token, room="anything").room_id is None


@pytest.mark.parametrize("check", [check_login])
def test_login_error_codes(check: object) -> None:
    def run(token: str, *, room: str = "room1", user: str = "alice", now: float = NOW) -> int:
        return _code(
            check, token, app_id=APP_ID, secret=SECRET, room_id=room, user_id=user, now=now
        )

    good = generateToken04(APP_ID, "alice", SECRET, 60, makePrivilegePayload("room1"), _now=NOW)
    assert run("garbage") == ErrorCode.TOKEN_ERROR == 1102016
    assert run(generateToken04(APP_ID, "alice", OTHER_SECRET, 60, _now=NOW)) == 1102016
    # app_id mismatch
    assert run(generateToken04(APP_ID + 1, "alice", SECRET, 60, _now=NOW)) == 1102016
    # expired: expire <= now
    assert run(good, now=NOW + 60) == ErrorCode.TOKEN_EXPIRED == 1102018
    assert run(good, now=NOW + 10_000) == 1102018
    # user mismatch
    assert run(good, user="bob") == ErrorCode.TOKEN_USER_MISMATCH == 1002077
    # room mismatch (choice: TOKEN_ERROR)
    with pytest.raises(TokenError) as info:
        check(  # type: ignore[operator]
            good, app_id=APP_ID, secret=SECRET, room_id="room2", user_id="alice", now=NOW
        )
    assert info.value.code == 1102016 and "room" in info.value.detail
    # no login privilege (choice: TOKEN_ERROR)
    no_login = generateToken04(
        APP_ID, "alice", SECRET, 60, makePrivilegePayload("room1", canLogin=False), _now=NOW
    )
    with pytest.raises(TokenError) as info:
        check(  # type: ignore[operator]
            no_login, app_id=APP_ID, secret=SECRET, room_id="room1", user_id="alice", now=NOW
        )
    assert info.value.code == 1102016 and "login privilege" in info.value.detail


def test_login_check_order() -> None:
    # an expired token for the wrong user reports expiry first; wrong app_id beats expiry
    token = generateToken04(APP_ID, "alice", SECRET, 60, makePrivilegePayload("x"), _now=NOW)
    assert _code(_login, token, user="bob", room="y", now=NOW + 100) == 1102018
    token = generateToken04(APP_ID + 1, "alice", SECRET, 60, _now=NOW)
    assert _code(_login, token, now=NOW + 100) == 1102016


# ------------------------------------------------------------------ server policy: publish


def _claims(payload: str = "") -> TokenClaims:
    return decode_token04(generateToken04(APP_ID, "alice", SECRET, 60, payload, _now=NOW), SECRET)


def test_publish_allowed() -> None:
    check_publish(_claims(), "any", now=NOW)
    check_publish(_claims(makePrivilegePayload("room1")), "any", now=NOW)
    check_publish(_claims(makePrivilegePayload("room1", streamIDList=["s1"])), "s1", now=NOW)


def test_publish_error_codes() -> None:
    assert _code(check_publish, _claims(), "s1", now=NOW + 60) == ErrorCode.TOKEN_EXPIRED
    no_pub = _claims(makePrivilegePayload("room1", canPublish=False))
    assert _code(check_publish, no_pub, "s1", now=NOW) == ErrorCode.TOKEN_NO_PUBLISH_PRIVILEGE
    listed = _claims(makePrivilegePayload("room1", streamIDList=["s1"]))
    assert _code(check_publish, listed, "s2", now=NOW) == 1002082
    empty = _claims(makePrivilegePayload("room1", streamIDList=[]))
    assert _code(check_publish, empty, "s1", now=NOW) == 1002082
