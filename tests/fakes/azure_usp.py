"""Azure Speech service protocol (USP) framing, and μ-law audio helpers for the fake and its tests.

Text frame: ``Name:value`` header lines, a blank line, the body.
Binary frame: 2-byte big-endian header length, the header lines, the payload.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

TICKS_PER_ULAW_BYTE = 1250  # 8000 bytes per second; one tick is 100 ns
WAV_HEADER_BYTES = 44
FRAME_BYTES = 160  # 20 ms of μ-law 8 kHz


@dataclass
class UspMessage:
    """One parsed message; ``headers`` keys are lower-cased."""

    headers: dict[str, str]
    body: bytes | str
    binary: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return self.headers.get("path", "").lower()

    @property
    def request_id(self) -> str:
        return self.headers.get("x-requestid", "")

    def json(self) -> Any:
        return json.loads(self.body) if self.body else {}


def _parse_headers(block: str) -> dict[str, str]:
    headers = {}
    for line in block.split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


def parse_message(frame: str | bytes) -> UspMessage:
    """Parse a websocket frame sent by the SDK."""
    if isinstance(frame, str):
        head, _, body = frame.partition("\r\n\r\n")
        return UspMessage(_parse_headers(head), body)
    header_length = int.from_bytes(frame[:2], "big")
    head = frame[2 : 2 + header_length].decode("ascii", "replace")
    return UspMessage(_parse_headers(head), frame[2 + header_length :], binary=True)


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def text_message(path: str, request_id: str, body: dict[str, Any] | str) -> str:
    """A service → client JSON text message."""
    payload = body if isinstance(body, str) else json.dumps(body)
    return (
        f"X-RequestId:{request_id}\r\nPath:{path}\r\nContent-Type:application/json; charset=utf-8\r\n"
        f"X-Timestamp:{timestamp()}\r\n\r\n{payload}"
    )


def audio_message(request_id: str, stream_id: str, audio: bytes) -> bytes:
    """A service → client binary TTS audio message."""
    head = (
        f"Path:audio\r\nX-RequestId:{request_id}\r\nX-StreamId:{stream_id}\r\n"
        f"Content-Type:audio/x-wav\r\nX-Timestamp:{timestamp()}\r\n"
    ).encode("ascii")
    return len(head).to_bytes(2, "big") + head + audio


def service_tag() -> str:
    return uuid.uuid4().hex


# --- TTS word boundaries ---------------------------------------------------------------------------------

TOKEN = re.compile(r"\w+(?:['’-]\w+)*|[^\w\s]")  # a word, or one punctuation mark


@dataclass(frozen=True)
class Boundary:
    """A word or punctuation boundary as the service reports it (times in 100 ns ticks)."""

    text: str
    offset: int
    duration: int
    kind: str  # "WordBoundary" or "PunctuationBoundary"


def text_boundaries(text: str, audio_bytes: int) -> list[Boundary]:
    """The boundaries of ``text`` spoken as ``audio_bytes`` of μ-law: the audio is spread evenly over the
    characters, so a token from character i to j starts i/len(text) into the audio and lasts (j-i)/len(text)
    of it (with ``default_audio_for``, 20 ms per character: i × 20 ms whenever the text has 10+ characters)."""
    total = audio_bytes * TICKS_PER_ULAW_BYTE
    boundaries = []
    for match in TOKEN.finditer(text):
        start, end = (total * index // len(text) for index in match.span())
        kind = "WordBoundary" if re.match(r"\w", match.group()) else "PunctuationBoundary"
        boundaries.append(Boundary(match.group(), start, end - start, kind))
    return boundaries


def metadata_body(boundary: Boundary) -> dict[str, Any]:
    """The ``audio.metadata`` body of one boundary. The Speech SDK reads the type from ``text.BoundaryType``
    (``WordBoundary``/``PunctuationBoundary``), under an outer ``Type`` of ``WordBoundary`` for both."""
    text = {"Text": boundary.text, "Length": len(boundary.text), "BoundaryType": boundary.kind}
    data = {"Offset": boundary.offset, "Duration": boundary.duration, "text": text}
    return {"Metadata": [{"Type": "WordBoundary", "Data": data}]}


# --- μ-law audio -----------------------------------------------------------------------------------------


def ulaw_to_linear(byte: int) -> int:
    """G.711 μ-law byte → 16-bit linear sample."""
    byte = ~byte & 0xFF
    magnitude = (((byte & 0x0F) << 3) + 0x84) << ((byte & 0x70) >> 4)
    return (0x84 - magnitude) if byte & 0x80 else (magnitude - 0x84)


_ULAW_ABS = [abs(ulaw_to_linear(b)) for b in range(256)]


def frame_energy(frame: bytes) -> float:
    """Mean absolute linear amplitude of a μ-law frame."""
    return sum(_ULAW_ABS[b] for b in frame) / len(frame) if frame else 0.0


def linear_to_ulaw(sample: int) -> int:
    """16-bit linear sample → G.711 μ-law byte."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(0, magnitude.bit_length() - 8)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (min(exponent, 7) << 4) | mantissa) & 0xFF


def silence(ms: int) -> bytes:
    """μ-law digital silence."""
    return b"\xff" * (8 * ms)


def speech(ms: int, hz: float = 440.0, amplitude: int = 8000) -> bytes:
    """A loud tone the fake's energy detector takes for speech."""
    return bytes(linear_to_ulaw(int(amplitude * math.sin(2 * math.pi * hz * n / 8000))) for n in range(8 * ms))


def frames(audio: bytes, size: int = FRAME_BYTES) -> list[bytes]:
    """Split audio into 20 ms frames, the way the carrier delivers it."""
    return [audio[i : i + size] for i in range(0, len(audio), size)]
