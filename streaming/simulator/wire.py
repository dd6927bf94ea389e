"""The frames Plivo sends on the ``<Stream>`` WebSocket (see docs: start, media, dtmf, playedStream, clearedAudio)."""

from __future__ import annotations

import json
import time


def epoch_ms() -> str:
    """Plivo's timestamps: epoch milliseconds as a string."""
    return str(int(time.time() * 1000))


def start_message(call_id: str, stream_id: str, account_id: str) -> dict:
    return {
        "event": "start",
        "start": {
            "callId": call_id,
            "streamId": stream_id,
            "accountId": account_id,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
        },
        "extra_headers": "",
    }


def media_template(stream_id: str) -> str:
    """A ``media`` frame as a %-template of (sequenceNumber, timestamp ms, chunk, base64 payload): no JSON per frame."""
    return (
        '{"event":"media","sequenceNumber":%d,"streamId":'
        + json.dumps(stream_id).replace("%", "%%")
        + ',"media":{"track":"inbound","timestamp":"%d","chunk":%d,"payload":"%s"}}'
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
