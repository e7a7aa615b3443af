"""Is a client's "offer" really an SDP audio offer the relay can answer?

aiortc's SDP parser is lenient: text that is not SDP at all parses to a description
with no media, and answering it would publish (and announce) a stream that can never
carry audio.  The relay therefore checks an offer before anything is negotiated.
"""

from __future__ import annotations

from aiortc.sdp import SessionDescription

__all__ = ["BadOffer", "check_audio_offer"]


class BadOffer(ValueError):
    """Why an offer was refused (for the server log; the client gets a generic reply)."""


def check_audio_offer(sdp: str) -> None:
    """Raise BadOffer unless ``sdp`` is an SDP offer with an Opus audio m-line that
    carries ICE credentials and a DTLS fingerprint (what WebRTC needs to connect)."""
    if not sdp.startswith("v=0"):
        raise BadOffer("does not start with v=0")
    try:
        description = SessionDescription.parse(sdp)
    except Exception as exc:  # the parser raises whatever its input provokes
        raise BadOffer(f"unparsable SDP ({type(exc).__name__})") from None
    audio = [m for m in description.media if m.kind == "audio"]
    if not audio:
        raise BadOffer("no audio m-line")
    for media in audio:
        if not any(c.mimeType.lower() == "audio/opus" for c in media.rtp.codecs):
            raise BadOffer("an audio m-line without Opus")
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            raise BadOffer("no ICE credentials")
        if media.dtls is None or not media.dtls.fingerprints:
            raise BadOffer("no DTLS fingerprint")
