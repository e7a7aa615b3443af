"""Is a client's "offer" really an SDP offer the relay can answer?

aiortc's SDP parser is lenient: text that is not SDP at all parses to a description
with no media, and answering it would publish (and announce) a stream that can never
carry media.  The relay therefore checks an offer before anything is negotiated.
"""

from __future__ import annotations

from aiortc.sdp import SessionDescription

__all__ = ["BadOffer", "check_media_offer"]

# What the relay forwards, by m-line kind: Opus audio, VP8 or H.264 video.
_FORWARDED = {"audio": ("audio/opus",), "video": ("video/vp8", "video/h264")}


class BadOffer(ValueError):
    """Why an offer was refused (for the server log; the client gets a generic reply)."""


def check_media_offer(sdp: str) -> None:
    """Raise BadOffer unless ``sdp`` is an SDP offer with an Opus audio and/or a VP8 or
    H.264 video m-line, each carrying ICE credentials and a DTLS fingerprint (what
    WebRTC needs to connect)."""
    if not sdp.startswith("v=0"):
        raise BadOffer("does not start with v=0")
    try:
        description = SessionDescription.parse(sdp)
    except Exception as exc:  # the parser raises whatever its input provokes
        raise BadOffer(f"unparsable SDP ({type(exc).__name__})") from None
    media_lines = [m for m in description.media if m.kind in _FORWARDED]
    if not media_lines:
        raise BadOffer("no audio or video m-line")
    for media in media_lines:
        if not any(c.mimeType.lower() in _FORWARDED[media.kind] for c in media.rtp.codecs):
            raise BadOffer(f"a {media.kind} m-line without {' or '.join(_FORWARDED[media.kind])}")
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            raise BadOffer("no ICE credentials")
        if media.dtls is None or not media.dtls.fingerprints:
            raise BadOffer("no DTLS fingerprint")
