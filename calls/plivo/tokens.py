"""The stream token: an HMAC-signed, expiring value in the WebSocket URL that binds one CallUUID."""

from __future__ import annotations

from django.conf import settings
from django.core import signing

_SALT = "calls.stream-token"


class BadStreamToken(Exception):
    """The token is forged, tampered with, malformed or expired."""


def make_stream_token(call_uuid: str) -> str:
    return signing.TimestampSigner(salt=_SALT).sign(call_uuid)


def read_stream_token(token: str, max_age: int | None = None) -> str:
    """The CallUUID the token was minted for; raises BadStreamToken."""
    age = settings.STREAM_TOKEN_MAX_AGE if max_age is None else max_age
    try:
        return signing.TimestampSigner(salt=_SALT).unsign(token, max_age=age)
    except signing.SignatureExpired as exc:
        raise BadStreamToken(f"stream token expired: {exc}") from None
    except signing.BadSignature:
        raise BadStreamToken("stream token signature is invalid") from None


def stream_path(token: str) -> str:
    """The WebSocket path Plivo connects to (routed in voiceproject/asgi.py)."""
    return f"/ws/plivo/{token}/"
