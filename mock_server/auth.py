"""Token policy of the bundled server: ZEGO's loginRoom/publish/renewToken checks.

Pure functions (the clock is the only input not passed in, and ``now`` overrides it)
so the server and the tests share one definition of "who may do what".  Decryption
and parsing live in ``zego_py.token``; this module decides.  Checks run in the
order given in docs/tokens.md:

1. decrypt/parse                       -> 1102016 TOKEN_ERROR
2. ``app_id`` == server app ID         -> 1102016 (UNCONFIRMED at ZEGO)
3. ``expire > now``                    -> 1102018 TOKEN_EXPIRED
4. ``user_id`` == login userID         -> 1002077 TOKEN_USER_MISMATCH
5. payload ``room_id`` == roomID       -> 1102016 (choice: ZEGO's code is UNCONFIRMED;
   a token minted for another room is "not a token for this request", so TOKEN_ERROR)
6. payload privilege "1" == 1          -> 1102016 (choice: ZEGO has no dedicated "no
   login privilege" code in the Web SDK tables)

Every 1102016 is a ``TokenError`` with the one message "token error"; what was wrong
goes to ``TokenError.detail`` (the server log).  Only 1102018 and 1002077 differ, and
both need a token that decrypted and parsed, so they tell a forger nothing.

Reconnect tokens (``reconnect_token``): see the function; the rule is in docs/tokens.md.

Publishing (``check_publish``): expired -> 1102018 (ZEGO keeps users in the room but
blocks later operations); privilege "2" == 0 or streamID not in ``stream_id_list``
-> 1002082 TOKEN_NO_PUBLISH_PRIVILEGE.
"""

from __future__ import annotations

import json
import time

from zego_py.errors import ErrorCode, ZegoError
from zego_py.token import TokenClaims, TokenError, decode_token04, server_token04

__all__ = ["RECONNECT_KEY", "check_login", "check_publish", "reconnect_token"]

RECONNECT_KEY = "zego_py_reconnect_until"
"""Payload key of a server-minted reconnect token: the deadline no descendant passes."""


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def check_login(
    token: str,
    *,
    app_id: int,
    secret: str,
    room_id: str,
    user_id: str,
    now: float | None = None,
) -> TokenClaims:
    """Verify a loginRoom token for (app, room, user); return its claims for later checks."""
    claims = decode_token04(token, secret)
    if claims.app_id != app_id:
        raise TokenError(f"app_id {claims.app_id} is not this server's")
    if claims.expire <= _now(now):
        raise ZegoError(ErrorCode.TOKEN_EXPIRED)
    if claims.user_id != user_id:
        raise ZegoError(ErrorCode.TOKEN_USER_MISMATCH)
    if claims.has_payload:
        if claims.room_id is not None and claims.room_id != room_id:
            raise TokenError("the token's room_id differs from the login roomID")
        if not claims.can_login:
            raise TokenError("the token has no login privilege")
    return claims


def check_publish(claims: TokenClaims, stream_id: str, now: float | None = None) -> None:
    """May the holder of ``claims`` publish ``stream_id`` now?"""
    if claims.expire <= _now(now):
        raise ZegoError(ErrorCode.TOKEN_EXPIRED)
    if not claims.can_publish:
        raise ZegoError(ErrorCode.TOKEN_NO_PUBLISH_PRIVILEGE)
    if claims.stream_ids is not None and stream_id not in claims.stream_ids:
        raise ZegoError(
            ErrorCode.TOKEN_NO_PUBLISH_PRIVILEGE,
            f"token does not have the permission to publish current stream ({stream_id!r} "
            "is not in stream_id_list)",
        )


def reconnect_token(claims: TokenClaims, *, app_id: int, secret: str, grace_s: int,
                    now: float | None = None) -> str:
    """A token for re-login after a server restart, minted from the claims just checked.

    Minted from an app token it is valid until the app token's expiry plus ``grace_s``;
    minted from a reconnect token it keeps that token's deadline (carried in its payload
    under ``RECONNECT_KEY``).  So a chain of restarts never outlives the app token by
    more than one grace.  It is a GCM token (authenticated, unlike CBC) with a 96-bit
    random nonce (``server_token04``).
    """
    payload = json.loads(claims.payload_raw) if claims.payload_raw else {}
    inherited = payload.get(RECONNECT_KEY)
    if RECONNECT_KEY not in payload:
        deadline = claims.expire + grace_s
    elif isinstance(inherited, int) and not isinstance(inherited, bool):
        deadline = min(inherited, claims.expire + grace_s)
    else:  # not ours: grant nothing beyond the token's own expiry
        deadline = claims.expire
    payload[RECONNECT_KEY] = deadline
    ctime = int(_now(now))
    return server_token04(app_id, claims.user_id, secret, max(1, deadline - ctime),
                          json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
                          now=ctime)
