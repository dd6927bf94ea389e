"""Plivo XML documents, built with the SDK's plivoxml."""

from __future__ import annotations

from plivo import plivoxml

STREAM_CONTENT_TYPE = "audio/x-mulaw;rate=8000"


def stream_response(stream_url: str, status_callback_url: str) -> str:
    """Connect the call's audio to our WebSocket; the engine speaks the greeting itself."""
    response = plivoxml.ResponseElement()
    response.add(
        plivoxml.StreamElement(
            stream_url,
            bidirectional=True,
            keepCallAlive=True,
            contentType=STREAM_CONTENT_TYPE,
            statusCallbackUrl=status_callback_url,
            statusCallbackMethod="POST",
        )
    )
    return response.to_string()


def decline_response(message: str) -> str:
    """Say something polite, then hang up."""
    response = plivoxml.ResponseElement()
    response.add_speak(message)
    response.add_hangup()
    return response.to_string()
