"""The Plivo audio-streaming wire protocol: parse what Plivo sends, build what we send. Pure, no I/O."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field

MAX_PAYLOAD_BYTES = 64 * 1024
# Refused before parsing: well above a media frame of the largest payload (87,384 base64 characters).
MAX_FRAME_CHARS = 128 * 1024
MAX_DEPTH = 8  # Plivo's frames nest 3 deep; json.loads recurses per level (RecursionError at ~1,000)
MAX_CONTAINERS = 32  # "{" and "[" in one frame, in strings too (Plivo's frames have at most 4)
MAX_STRING_MARKS = 256  # '"' and backslashes in a frame that needs its nesting measured
MAX_NUMBER = 2**53  # sequence numbers, chunks, epoch-ms timestamps and sample rates all fit
SHOWN_CHARS = 40  # of a refused value, in an error message (and so in the log)
MULAW = "audio/x-mulaw"
INBOUND, OUTBOUND = "inbound", "outbound"  # media tracks: the caller's audio, and (listen mode) the other side's
SAMPLE_RATE = 8000

# WebSocket close codes of the stream socket (ours are in the 4000-4999 private range)
CLOSE_PROTOCOL = 4400  # a frame that cannot go on the stream: audio before start, start for another call...
CLOSE_BAD_TOKEN = 4403
CLOSE_NOT_LIVE = 4404
CLOSE_REPLACED = 4409  # a newer socket sent a valid start for the same call
CLOSE_FLOOD = 4429  # caller audio sustained far ahead of real time
CLOSE_ERROR = 4500  # our own failure: the call ended cleanly instead of running on half-dead
_TOKENS = re.compile(r'[\[\]{}"\\]')  # what the nesting scan looks at (found in C)


class CodecError(ValueError):
    """A frame we cannot use. ``fatal`` means the stream cannot go on (e.g. audio before ``start``)."""

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


@dataclass(frozen=True, slots=True)
class Start:
    stream_id: str
    call_id: str
    account_id: str = ""
    tracks: tuple[str, ...] = ("inbound",)
    encoding: str = MULAW
    sample_rate: int = SAMPLE_RATE
    extra_headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Media:
    payload: bytes
    sequence: int | None = None
    chunk: int | None = None
    timestamp_ms: int | None = None
    track: str = "inbound"  # a one-way stream of both sides (listen mode): "outbound" is the person who answered


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class PlayedStream:
    name: str


@dataclass(frozen=True, slots=True)
class ClearedAudio:
    pass


@dataclass(frozen=True, slots=True)
class Stop:
    pass


@dataclass(frozen=True, slots=True)
class Unknown:
    event: str


Event = Start | Media | Dtmf | PlayedStream | ClearedAudio | Stop | Unknown

DTMF_DIGITS = frozenset("0123456789*#ABCD")


def parse(frame: str | bytes, *, started: bool) -> Event:
    """One Plivo JSON frame → a typed event. Raises CodecError on anything malformed.

    Hostile input is refused before ``json.loads`` where it is cheap (size, nesting) and during it otherwise
    (``NaN``/``Infinity``); numbers are checked finite and in range where they are read.
    """
    _check_shape(frame)
    try:
        message = _JSON.decode(frame if isinstance(frame, str) else frame.decode("utf-8"))
    except CodecError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise CodecError("frame is not JSON") from None
    if not isinstance(message, dict):
        raise CodecError("frame is not a JSON object")
    event = message.get("event")
    if not isinstance(event, str):
        raise CodecError("frame has no 'event' string")
    if event == "start":
        return _start(message)
    if not started:
        raise CodecError(f"'{event}' before 'start': the first frame must be 'start'", fatal=True)
    if event == "media":
        return _media(message)
    if event == "dtmf":
        digit = _obj(message, "dtmf").get("digit")
        if not isinstance(digit, str) or len(digit) != 1 or digit.upper() not in DTMF_DIGITS:
            raise CodecError(f"dtmf digit must be one of 0-9 * # A-D, got {_shown(digit)}")
        return Dtmf(digit.upper())
    if event in ("playedStream", "played"):
        name = message.get("name")
        if not isinstance(name, str):
            raise CodecError(f"{event} needs a 'name' string")
        return PlayedStream(name)
    if event == "clearedAudio":
        return ClearedAudio()
    if event == "stop":
        return Stop()
    return Unknown(event)


def _check_shape(frame: str | bytes) -> None:
    """Size, then nesting. Counting is C-speed; only a frame with more than MAX_DEPTH opening brackets (never a
    Plivo frame) gets the exact scan, and that one sees at most a few hundred tokens."""
    if len(frame) > MAX_FRAME_CHARS:
        raise CodecError(f"frame is over {MAX_FRAME_CHARS} characters")
    text = frame.decode("utf-8", "replace") if isinstance(frame, bytes | bytearray) else frame
    opening = text.count("{") + text.count("[")
    if opening <= MAX_DEPTH:
        return
    if opening > MAX_CONTAINERS:
        raise CodecError(f"frame has more than {MAX_CONTAINERS} objects and arrays")
    if text.count('"') + text.count("\\") > MAX_STRING_MARKS:
        raise CodecError(f"frame has more than {MAX_STRING_MARKS} quotes and backslashes")
    _check_depth(text)


def _check_depth(text: str) -> None:
    """Nesting depth outside strings (brackets in strings do not count)."""
    depth, in_string, escaped = 0, False, -1
    for token in _TOKENS.finditer(text):
        char, at = token.group(), token.start()
        if in_string:
            if at == escaped:
                continue
            if char == "\\":
                escaped = at + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
            if depth > MAX_DEPTH:
                raise CodecError(f"frame nests deeper than {MAX_DEPTH} levels")
        elif char in "}]":
            depth -= 1


def _no_constant(name: str) -> float:
    raise CodecError(f"frame has a non-finite number ({name})")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"


_JSON = json.JSONDecoder(parse_constant=_no_constant)  # one decoder: json.loads(..., **options) builds one per call


def _obj(message: dict, key: str) -> dict:
    value = message.get(key)
    if not isinstance(value, dict):
        raise CodecError(f"'{message.get('event')}' needs a '{key}' object")
    return value


def _optional_int(value: object, name: str) -> int | None:
    """A finite number within ±2**53 (Plivo sends the timestamp as a string of epoch ms), else CodecError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str) or len(str(value)) > 24:
        raise CodecError(f"{name} must be a number, got {_shown(value)}")
    try:
        number = int(value)  # int("1e400") and int("nan") are ValueErrors; int(inf) an OverflowError
    except (TypeError, ValueError, OverflowError):
        raise CodecError(f"{name} must be a number, got {_shown(value)}") from None
    if abs(number) > MAX_NUMBER:
        raise CodecError(f"{name} is out of range: {_shown(value)}")
    return number


def _media(message: dict) -> Media:
    media = _obj(message, "media")
    payload = media.get("payload")
    if not isinstance(payload, str):
        raise CodecError("media needs a base64 'payload' string")
    if len(payload) > (MAX_PAYLOAD_BYTES // 3 + 1) * 4:  # cheap early refusal before decoding
        raise CodecError(f"media payload is over {MAX_PAYLOAD_BYTES} bytes")
    try:
        audio = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise CodecError("media payload is not valid base64") from None
    if len(audio) > MAX_PAYLOAD_BYTES:
        raise CodecError(f"media payload is over {MAX_PAYLOAD_BYTES} bytes")
    return Media(
        audio,
        sequence=_optional_int(message.get("sequenceNumber"), "sequenceNumber"),
        chunk=_optional_int(media.get("chunk"), "chunk"),
        timestamp_ms=_optional_int(media.get("timestamp"), "timestamp"),
        track=OUTBOUND if media.get("track") == OUTBOUND else INBOUND,
    )


def _start(message: dict) -> Start:
    start = _obj(message, "start")
    call_id, stream_id = start.get("callId"), start.get("streamId")
    if not isinstance(call_id, str) or not isinstance(stream_id, str) or not call_id or not stream_id:
        raise CodecError("start needs 'callId' and 'streamId' strings")
    media_format = start.get("mediaFormat") or {}
    if not isinstance(media_format, dict):
        raise CodecError("start.mediaFormat must be an object")
    encoding = media_format.get("encoding", MULAW)
    rate = _optional_int(media_format.get("sampleRate", SAMPLE_RATE), "sampleRate")
    tracks = start.get("tracks", ["inbound"])
    if not isinstance(encoding, str) or not isinstance(tracks, list):
        raise CodecError("start.mediaFormat.encoding must be a string and start.tracks a list")
    return Start(
        stream_id=stream_id,
        call_id=call_id,
        account_id=str(start.get("accountId", "")),
        tracks=tuple(str(t) for t in tracks),
        encoding=encoding,
        sample_rate=rate or SAMPLE_RATE,
        extra_headers=_extra_headers(message.get("extra_headers", "")),
    )


def _extra_headers(raw: object) -> dict[str, str]:
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    if not isinstance(raw, str):
        return {}
    pairs = (item.partition("=") for item in raw.replace(",", ";").split(";") if "=" in item)
    return {k.strip(): v.strip() for k, _, v in pairs}


def play_audio(audio: bytes) -> str:
    payload = base64.b64encode(audio).decode("ascii")
    return '{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":"' + payload + '"}}'


def checkpoint(stream_id: str, name: str) -> str:
    return json.dumps({"event": "checkpoint", "streamId": stream_id, "name": name}, separators=(",", ":"))


def clear_audio(stream_id: str) -> str:
    return json.dumps({"event": "clearAudio", "streamId": stream_id}, separators=(",", ":"))


def send_dtmf(digits: str) -> str:
    if not digits or any(d.upper() not in DTMF_DIGITS for d in digits):
        raise CodecError(f"sendDTMF digits must be 0-9 * # A-D, got {_shown(digits)}")
    return json.dumps({"event": "sendDTMF", "dtmf": digits}, separators=(",", ":"))
