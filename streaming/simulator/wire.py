"""The frames Plivo sends on the ``<Stream>`` WebSocket (see docs: start, media, dtmf, playedStream, clearedAudio)."""

from __future__ import annotations

import json
import time


def epoch_ms() -> str:
    """Plivo's timestamps: epoch milliseconds as a string."""
    return str(int(time.time() * 1000))


def start_message(call_id: str, stream_id: str, account_id: str, tracks: tuple[str, ...] = ("inbound",)) -> dict:
    return {
        "event": "start",
        "start": {
            "callId": call_id,
            "streamId": stream_id,
            "accountId": account_id,
            "tracks": list(tracks),
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
        },
        "extra_headers": "",
    }


def media_template(stream_id: str, track: str = "inbound") -> str:
    """A ``media`` frame as a %-template of (sequenceNumber, timestamp ms, chunk, base64 payload): no JSON per frame.
    ``track``: "inbound" (the caller) or, on a one-way stream of both sides, "outbound" (the person who answered)."""
    return (
        '{"event":"media","sequenceNumber":%d,"streamId":'
        + json.dumps(stream_id).replace("%", "%%")
        + ',"media":{"track":'
        + json.dumps(track).replace("%", "%%")
        + ',"timestamp":"%d","chunk":%d,"payload":"%s"}}'
    )


def dtmf_message(stream_id: str, digit: str) -> dict:
    return {
        "event": "dtmf",
        "streamId": stream_id,
        "dtmf": {"track": "inbound", "digit": digit, "timestamp": epoch_ms()},
    }


def played_stream_message(stream_id: str, name: str) -> dict:
    return {"event": "playedStream", "streamId": stream_id, "name": name}


def cleared_audio_message(stream_id: str) -> dict:
    return {"event": "clearedAudio", "streamId": stream_id}
