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


def listen_response(
    stream_url: str,
    status_callback_url: str,
    targets: list[str],
    *,
    dial_action_url: str,
    timeout: int,
    caller_id: str = "",
) -> str:
    """Listen mode: a one-way stream of both sides (no audio goes back), then the caller is connected to the
    person (numbers ring at once; ``sip:`` URIs as ``<User>``). The Dial's action decides what follows."""
    response = plivoxml.ResponseElement()
    response.add(
        plivoxml.StreamElement(
            stream_url,
            bidirectional=False,
            audioTrack="both",
            contentType=STREAM_CONTENT_TYPE,
            statusCallbackUrl=status_callback_url,
            statusCallbackMethod="POST",
        )
    )
    options: dict[str, object] = {"action": dial_action_url, "method": "POST", "timeout": timeout}
    if caller_id:
        options["caller_id"] = caller_id
    dial = plivoxml.DialElement(**options)
    for target in targets:
        if target.lower().startswith(("sip:", "sips:")):
            dial.add_user(target)
        else:
            dial.add_number(target)
    response.add(dial)
    return response.to_string()
