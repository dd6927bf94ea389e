"""The simulator's stand-in for the proxy of the production split (bench --split, README "Production topology")."""

from __future__ import annotations

import dataclasses

from streaming.simulator.plivo_http import StreamInstruction, routed_to


def test_routed_to_sends_the_stream_to_another_host_like_the_proxy():
    """``CallScript.stream_base`` (bench --split): the answer XML's socket URL, same path and token, another host."""
    stream = StreamInstruction(
        url="ws://web.example:8001/ws/plivo/tok:en/",
        bidirectional=True,
        content_type="audio/x-mulaw;rate=8000",
        status_callback_url="http://web.example:8001/plivo/stream-status/",
        status_callback_method="POST",
    )
    assert routed_to(stream, "http://127.0.0.1:8101") == dataclasses.replace(
        stream, url="ws://127.0.0.1:8101/ws/plivo/tok:en/"
    )
    assert routed_to(stream, "https://audio.example").url == "wss://audio.example/ws/plivo/tok:en/"
