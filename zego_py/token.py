"""ZEGO Token04: generate dev tokens and verify them on the bundled server.

ZEGO's real servers check a token04 at loginRoom/renewToken time; the bundled room
server needs the same checks to behave like ZEGO, and tests and demos need to mint
tokens without a ZEGO account.  The format follows ``zegoim/zego_server_assistant``
(see docs/tokens.md)::

    "04" + base64( int64 BE expire | uint16 BE len(iv) | iv | uint16 BE len(ct) | ct [| mode] )

* CBC (variant A, "deprecated" upstream): 16-char IV, AES-CBC + PKCS7, no mode byte.
* GCM (variant B, "recommended"): 12-char nonce, AES-GCM (ct || 16-byte tag), mode byte 1.

The generators raise ``ValueError`` for bad arguments: those are programmer errors,
not room errors.  The verifier raises only ``TokenError`` (code 1102016, message
"token error") for any malformed token string, whatever was wrong with it: a CBC
token carries no MAC, so a reply that told bad padding from bad JSON would be a
padding oracle (docs/tokens.md).  What was wrong is in ``TokenError.detail``, for
the server log only.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import string
import struct
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from zego_py.errors import ErrorCode, ZegoError

__all__ = [
    "AES_MODE_CBC",
    "AES_MODE_GCM",
    "TOKEN_VERSION",
    "TokenClaims",
    "TokenError",
    "decode_token04",
    "generateToken04",
    "generateToken04GCM",
    "makePrivilegePayload",
    "server_token04",
]

TOKEN_VERSION = "04"
"""Version prefix of every token04 string."""

AES_MODE_CBC = 0
"""Upstream's ``AesEncryptModeCBCPKCS5Padding``; CBC tokens carry no mode byte."""

AES_MODE_GCM = 1
"""Upstream's ``AesEncryptModeGCM``: the trailing byte of a GCM token."""

PRIVILEGE_LOGIN = "1"
PRIVILEGE_PUBLISH = "2"

_IV_CHARS = string.digits + string.ascii_lowercase  # [0-9a-z], as upstream
_CBC_IV_LEN = 16
_GCM_NONCE_LEN = 12
_GCM_TAG_LEN = 16
_SECRET_LEN = 32
_UINT32_MAX = 0xFFFFFFFF
_INT32_MAX = 0x7FFFFFFF
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


# --------------------------------------------------------------------------- generation


def _random_chars(n: int) -> str:
    return "".join(secrets.choice(_IV_CHARS) for _ in range(n))


def _validate_args(appID: int, userID: str, secret: str, effectiveTimeInSeconds: int) -> bytes:  # noqa: N803
    """Upstream's generator checks (codes 1, 3, 5, 6), as ValueError; returns the AES key."""
    if not isinstance(appID, int) or isinstance(appID, bool) or not 0 < appID <= _UINT32_MAX:
        raise ValueError(f"appID invalid: must be a non-zero uint32, got {appID!r}")
    if not isinstance(userID, str) or userID == "":
        raise ValueError("userID invalid: must be a non-empty string")
    if not isinstance(secret, str) or len(secret.encode("utf-8")) != _SECRET_LEN:
        raise ValueError("secret must be a 32 byte string")
    if (
        not isinstance(effectiveTimeInSeconds, int)
        or isinstance(effectiveTimeInSeconds, bool)
        or effectiveTimeInSeconds <= 0
    ):
        raise ValueError(
            f"effectiveTimeInSeconds invalid: must be an int > 0, got {effectiveTimeInSeconds!r}"
        )
    return secret.encode("utf-8")


def _plaintext(
    appID: int,  # noqa: N803
    userID: str,  # noqa: N803
    effectiveTimeInSeconds: int,  # noqa: N803
    payload: str,
    nonce: int | None,
    now: int | None,
) -> tuple[int, bytes]:
    """The compact JSON plaintext (upstream Python's field order) and its expire time."""
    if not isinstance(payload, str):
        raise ValueError("payload must be a string (JSON-encode it first)")
    ctime = int(time.time()) if now is None else int(now)
    expire = ctime + effectiveTimeInSeconds
    if not _INT64_MIN <= expire <= _INT64_MAX:
        raise ValueError("effectiveTimeInSeconds invalid: expire does not fit in int64")
    body = {
        "app_id": appID,
        "user_id": userID,
        "nonce": secrets.randbelow(_INT32_MAX) + 1 if nonce is None else nonce,
        "ctime": ctime,
        "expire": expire,
        "payload": payload,
    }
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return expire, text.encode("utf-8")


def _pack(expire: int, iv: bytes, ct: bytes, mode_byte: bytes = b"") -> str:
    binary = (
        struct.pack(">q", expire)
        + struct.pack(">H", len(iv))
        + iv
        + struct.pack(">H", len(ct))
        + ct
        + mode_byte
    )
    return TOKEN_VERSION + base64.b64encode(binary).decode("ascii")


def _check_iv(iv: str | None, length: int) -> bytes:
    if iv is None:
        iv = _random_chars(length)
    raw = iv.encode("utf-8")
    if len(raw) != length:
        raise ValueError(f"IV/nonce must be {length} bytes")
    return raw


def generateToken04(  # noqa: N802 - ZEGO's name
    appID: int,  # noqa: N803
    userID: str,  # noqa: N803
    secret: str,
    effectiveTimeInSeconds: int,  # noqa: N803
    payload: str = "",
    *,
    _iv: str | None = None,
    _nonce: int | None = None,
    _now: int | None = None,
) -> str:
    """Mint a token04 in the AES-CBC layout (the one every upstream HEAD ships).

    ``_iv`` (16 chars), ``_nonce`` (JSON nonce) and ``_now`` (ctime) exist only so
    tests can pin the otherwise random/time-dependent output.
    """
    key = _validate_args(appID, userID, secret, effectiveTimeInSeconds)
    expire, plain = _plaintext(appID, userID, effectiveTimeInSeconds, payload, _nonce, _now)
    iv = _check_iv(_iv, _CBC_IV_LEN)
    padder = padding.PKCS7(algorithms.AES.block_size).padder()
    padded = padder.update(plain) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ct = enc.update(padded) + enc.finalize()
    return _pack(expire, iv, ct)


def generateToken04GCM(  # noqa: N802 - ZEGO-style name
    appID: int,  # noqa: N803
    userID: str,  # noqa: N803
    secret: str,
    effectiveTimeInSeconds: int,  # noqa: N803
    payload: str = "",
    *,
    _iv: str | None = None,
    _nonce: int | None = None,
    _now: int | None = None,
) -> str:
    """Mint a token04 in the newer AES-GCM layout, so the verifier is proven on both.

    ``_iv`` is the 12-char GCM nonce; ``_nonce``/``_now`` pin the JSON as above.
    """
    return _gcm_token04(appID, userID, secret, effectiveTimeInSeconds, payload,
                        _check_iv(_iv, _GCM_NONCE_LEN), _nonce, _now)


def _gcm_token04(appID: int, userID: str, secret: str, effectiveTimeInSeconds: int,  # noqa: N803
                 payload: str, iv: bytes, nonce: int | None, now: int | None) -> str:
    key = _validate_args(appID, userID, secret, effectiveTimeInSeconds)
    expire, plain = _plaintext(appID, userID, effectiveTimeInSeconds, payload, nonce, now)
    ct_and_tag = AESGCM(key).encrypt(iv, plain, None)
    return _pack(expire, iv, ct_and_tag, bytes([AES_MODE_GCM]))


def server_token04(app_id: int, user_id: str, secret: str, seconds: int, payload: str = "",
                   *, now: int | None = None) -> str:
    """A GCM token04 for tokens only our own server reads back (reconnect tokens), with a
    96-bit random nonce.

    Upstream's nonce is 12 characters of [0-9a-z]: 62 bits, so two of ~2.5e9 tokens
    share one (birthday bound), which a client that keeps logging in can reach in days,
    and spot, since the nonce travels in clear.  A GCM nonce used twice under one key
    gives away the authentication key: tokens for any user could then be forged.
    """
    return _gcm_token04(app_id, user_id, secret, seconds, payload,
                        secrets.token_bytes(_GCM_NONCE_LEN), None, now)


def makePrivilegePayload(  # noqa: N802 - ZEGO-style name
    roomID: str,  # noqa: N803
    canLogin: bool = True,  # noqa: N803
    canPublish: bool = True,  # noqa: N803
    streamIDList: list[str] | None = None,  # noqa: N803
) -> str:
    """The privilege payload string of ZEGO's ``sample-rtc-room.js`` (1 = login, 2 = publish)."""
    return json.dumps(
        {
            "room_id": roomID,
            "privilege": {
                PRIVILEGE_LOGIN: int(bool(canLogin)),
                PRIVILEGE_PUBLISH: int(bool(canPublish)),
            },
            "stream_id_list": None if streamIDList is None else list(streamIDList),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says. Payload fields are None/True when there is no payload."""

    app_id: int
    user_id: str
    nonce: int
    ctime: int
    expire: int
    payload_raw: str
    room_id: str | None
    can_login: bool
    can_publish: bool
    stream_ids: tuple[str, ...] | None

    @property
    def has_payload(self) -> bool:
        """True for privilege tokens (non-empty payload), False for basic tokens."""
        return self.payload_raw != ""


class TokenError(ZegoError):
    """Any unusable token: one code and one message on the wire, ``detail`` for logs."""

    def __init__(self, detail: str) -> None:
        super().__init__(ErrorCode.TOKEN_ERROR)
        self.detail = detail


def _bad(detail: str) -> TokenError:
    return TokenError(detail)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _loads(text: str) -> Any:
    """Strict JSON: no NaN/Infinity; every parser failure becomes ValueError."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _privilege(priv: dict[str, Any], key: str) -> bool:
    value = priv.get(key, 1)
    if not _is_int(value) or value not in (0, 1):
        raise _bad(f"privilege {key!r} must be 0 or 1")
    return bool(value)


def _parse_payload(
    payload: str,
) -> tuple[str | None, bool, bool, tuple[str, ...] | None]:
    """room_id, can_login, can_publish, stream_ids of a privilege payload.

    Absent keys mean "not restricted"; present keys must have the documented types.
    """
    if payload == "":
        return None, True, True, None
    try:
        obj = _loads(payload)
    except ValueError:
        raise _bad("payload is not JSON") from None
    if not isinstance(obj, dict):
        raise _bad("payload is not a JSON object")
    room_id = obj.get("room_id")
    if room_id is not None and not isinstance(room_id, str):
        raise _bad("payload room_id must be a string")
    priv = obj.get("privilege")
    if priv is None:
        priv = {}
    if not isinstance(priv, dict):
        raise _bad("payload privilege must be an object")
    can_login = _privilege(priv, PRIVILEGE_LOGIN)
    can_publish = _privilege(priv, PRIVILEGE_PUBLISH)
    streams = obj.get("stream_id_list")
    if streams is not None and (
        not isinstance(streams, list) or not all(isinstance(s, str) for s in streams)
    ):
        raise _bad("payload stream_id_list must be null or a list of strings")
    return room_id, can_login, can_publish, None if streams is None else tuple(streams)


def _split(binary: bytes) -> tuple[int, bytes, bytes, int]:
    """expire, iv, ct, mode from the binary layout; CBC iff nothing follows ct."""
    if len(binary) < 12:
        raise _bad("too short")
    (expire,) = struct.unpack_from(">q", binary, 0)
    (iv_len,) = struct.unpack_from(">H", binary, 8)
    pos = 10 + iv_len
    if len(binary) < pos + 2:
        raise _bad("truncated IV")
    iv = binary[10:pos]
    (ct_len,) = struct.unpack_from(">H", binary, pos)
    pos += 2
    ct = binary[pos : pos + ct_len]
    if len(ct) != ct_len:
        raise _bad("truncated ciphertext")
    rest = binary[pos + ct_len :]
    if rest == b"":
        mode = AES_MODE_CBC
    elif rest == bytes([AES_MODE_GCM]):
        mode = AES_MODE_GCM
    else:
        raise _bad("unexpected bytes after ciphertext")
    return expire, iv, ct, mode


def _decrypt(key: bytes, iv: bytes, ct: bytes, mode: int) -> bytes:
    if mode == AES_MODE_GCM:
        if len(iv) != _GCM_NONCE_LEN or len(ct) < _GCM_TAG_LEN:
            raise _bad("bad GCM nonce or ciphertext length")
        try:
            return AESGCM(key).decrypt(iv, ct, None)
        except InvalidTag:
            raise _bad("decryption failed") from None
    if len(iv) != _CBC_IV_LEN or len(ct) == 0 or len(ct) % 16:
        raise _bad("bad CBC IV or ciphertext length")
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = dec.update(ct) + dec.finalize()
    unpadder = padding.PKCS7(algorithms.AES.block_size).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise _bad("decryption failed") from None


def decode_token04(token: str, secret: str) -> TokenClaims:
    """Decrypt and parse a token04 (CBC or GCM) without judging expiry or identity.

    Policy (expiry, user, room, privileges) lives in ``mock_server.auth``.  Any
    malformed token raises ``TokenError``; a secret that is not 32 bytes
    is a server misconfiguration and raises ``ValueError``.
    """
    if not isinstance(secret, str) or len(secret.encode("utf-8")) != _SECRET_LEN:
        raise ValueError("secret must be a 32 byte string")
    if not isinstance(token, str) or not token.startswith(TOKEN_VERSION):
        raise _bad("not a token04 (missing '04' prefix)")
    try:
        binary = base64.b64decode(token[len(TOKEN_VERSION) :], validate=True)
    except (binascii.Error, ValueError):
        raise _bad("invalid base64") from None
    header_expire, iv, ct, mode = _split(binary)
    plain = _decrypt(secret.encode("utf-8"), iv, ct, mode)
    try:
        obj = _loads(plain.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise _bad("plaintext is not JSON") from None
    if not isinstance(obj, dict):
        raise _bad("plaintext is not a JSON object")
    for name in ("app_id", "nonce", "ctime", "expire"):
        if not _is_int(obj.get(name)):
            raise _bad(f"{name} must be an integer")
    for name in ("user_id", "payload"):
        if not isinstance(obj.get(name), str):
            raise _bad(f"{name} must be a string")
    if obj["expire"] != header_expire:
        raise _bad("expire in header and body differ")
    room_id, can_login, can_publish, stream_ids = _parse_payload(obj["payload"])
    return TokenClaims(
        app_id=obj["app_id"],
        user_id=obj["user_id"],
        nonce=obj["nonce"],
        ctime=obj["ctime"],
        expire=obj["expire"],
        payload_raw=obj["payload"],
        room_id=room_id,
        can_login=can_login,
        can_publish=can_publish,
        stream_ids=stream_ids,
    )
