"""The Plivo stream codec: every inbound event, every outbound message, and every malformed frame."""

from __future__ import annotations

import base64
import json

import pytest

from streaming import plivo
from streaming.plivo import ClearedAudio, CodecError, Dtmf, Media, PlayedStream, Start, Stop, Unknown

START = {
    "event": "start",
    "sequenceNumber": 1,
    "start": {
        "callId": "call-uuid-1",
        "streamId": "stream-uuid-1",
        "accountId": "MA123",
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000},
    },
    "extra_headers": "a=1;b=2",
}
AUDIO = bytes(range(160))
B64 = base64.b64encode(AUDIO).decode()


def frame(**fields) -> str:
    return json.dumps(fields)


def start_with(start: dict | None = None, **top) -> str:
    message = {**START, "start": {**START["start"], **(start or {})}, **top}
    return json.dumps({k: v for k, v in message.items() if v is not None})


def media(payload=B64, seq=42, **extra) -> str:
    return frame(
        event="media", sequenceNumber=seq, streamId="s", media={"track": "inbound", "payload": payload, **extra}
    )


# ---- inbound ----
def test_start_parsed_with_every_field():
    assert plivo.parse(json.dumps(START), started=False) == Start(
        stream_id="stream-uuid-1",
        call_id="call-uuid-1",
        account_id="MA123",
        tracks=("inbound",),
        encoding="audio/x-mulaw",
        sample_rate=8000,
        extra_headers={"a": "1", "b": "2"},
    )


@pytest.mark.parametrize(
    ("raw", "headers"),
    [
        ("a=1;b=2", {"a": "1", "b": "2"}),
        ("a=1,b=2", {"a": "1", "b": "2"}),
        (" agent = 7 ; lang=en-US ", {"agent": "7", "lang": "en-US"}),
        ("x=a=b", {"x": "a=b"}),
        ("novalue;k=v;", {"k": "v"}),
        ("", {}),
        ({"k": 1}, {"k": "1"}),
        (None, {}),
        (5, {}),
    ],
)
def test_start_extra_headers(raw, headers):
    assert plivo.parse(start_with(extra_headers=raw), started=False).extra_headers == headers


@pytest.mark.parametrize(
    ("fmt", "encoding", "rate"),
    [
        ({"encoding": "audio/x-l16", "sampleRate": 16000}, "audio/x-l16", 16000),
        ({"encoding": "audio/x-l16", "sampleRate": "8000"}, "audio/x-l16", 8000),
        ({}, "audio/x-mulaw", 8000),
        (None, "audio/x-mulaw", 8000),
    ],
)
def test_start_media_format(fmt, encoding, rate):
    parsed = plivo.parse(start_with({"mediaFormat": fmt}), started=False)
    assert (parsed.encoding, parsed.sample_rate) == (encoding, rate)


def test_start_defaults_and_bytes_frame():
    raw = json.dumps({"event": "start", "start": {"callId": "c", "streamId": "s"}}).encode()
    assert plivo.parse(raw, started=True) == Start(stream_id="s", call_id="c")


def test_media_parsed_with_string_timestamp_as_int():
    parsed = plivo.parse(media(timestamp="1705312200000", chunk=41), started=True)
    assert parsed == Media(AUDIO, sequence=42, chunk=41, timestamp_ms=1705312200000)
    assert isinstance(parsed.timestamp_ms, int)


def test_media_without_optional_fields():
    assert plivo.parse(frame(event="media", media={"payload": B64}), started=True) == Media(AUDIO)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (frame(event="dtmf", sequenceNumber=57, dtmf={"track": "inbound", "digit": "5", "timestamp": "1"}), Dtmf("5")),
        (frame(event="dtmf", dtmf={"digit": "#"}), Dtmf("#")),
        (frame(event="dtmf", dtmf={"digit": "*"}), Dtmf("*")),
        (frame(event="dtmf", dtmf={"digit": "d"}), Dtmf("D")),
        (frame(event="playedStream", sequenceNumber=88, streamId="s", name="utterance-3"), PlayedStream("utterance-3")),
        (frame(event="played", name="turn-3"), PlayedStream("turn-3")),
        (frame(event="clearedAudio", sequenceNumber=90, streamId="s"), ClearedAudio()),
        (frame(event="stop", sequenceNumber=91), Stop()),
        (frame(event="playFailed", reason="x"), Unknown("playFailed")),
        (frame(event="error", reason="boom"), Unknown("error")),
    ],
)
def test_other_events(text, expected):
    assert plivo.parse(text, started=True) == expected


# ---- outbound ----
OUTBOUND = [
    (
        plivo.play_audio(b"\x01\x02\x03"),
        '{"event":"playAudio","media":{"contentType":"audio/x-mulaw","sampleRate":8000,"payload":"AQID"}}',
        {"event": "playAudio", "media": {"contentType": "audio/x-mulaw", "sampleRate": 8000, "payload": "AQID"}},
    ),
    (
        plivo.checkpoint("stream-1", "utterance-3"),
        '{"event":"checkpoint","streamId":"stream-1","name":"utterance-3"}',
        {"event": "checkpoint", "streamId": "stream-1", "name": "utterance-3"},
    ),
    (
        plivo.clear_audio("stream-1"),
        '{"event":"clearAudio","streamId":"stream-1"}',
        {"event": "clearAudio", "streamId": "stream-1"},
    ),
    (plivo.send_dtmf("123#"), '{"event":"sendDTMF","dtmf":"123#"}', {"event": "sendDTMF", "dtmf": "123#"}),
]


@pytest.mark.parametrize(("built", "text", "parsed"), OUTBOUND)
def test_outbound_messages_exact(built, text, parsed):
    assert built == text
    assert json.loads(built) == parsed


def test_play_audio_round_trips_a_frame():
    message = json.loads(plivo.play_audio(AUDIO))
    assert base64.b64decode(message["media"]["payload"]) == AUDIO


@pytest.mark.parametrize("digits", ["", "12x", "1 2", "E"])
def test_send_dtmf_rejects_bad_digits(digits):
    with pytest.raises(CodecError, match="sendDTMF digits must be 0-9"):
        plivo.send_dtmf(digits)


# ---- malformed frames ----
BAD = [
    ("not json", "{nope", True, False, "frame is not JSON"),
    ("invalid utf-8", b"\xff\xfe\x00", True, False, "frame is not JSON"),
    ("JSON array", "[1, 2]", True, False, "frame is not a JSON object"),
    ("JSON string", '"media"', True, False, "frame is not a JSON object"),
    ("no event", frame(media={"payload": B64}), True, False, "frame has no 'event' string"),
    ("event not a string", frame(event=5), True, False, "frame has no 'event' string"),
    ("media before start", media(), False, True, "'media' before 'start': the first frame must be 'start'"),
    ("dtmf before start", frame(event="dtmf", dtmf={"digit": "1"}), False, True, "'dtmf' before 'start'"),
    ("unknown before start", frame(event="weird"), False, True, "'weird' before 'start'"),
    ("media without media object", frame(event="media"), True, False, "'media' needs a 'media' object"),
    ("media object not a dict", frame(event="media", media="x"), True, False, "'media' needs a 'media' object"),
    ("media without payload", frame(event="media", media={"track": "inbound"}), True, False, "base64 'payload'"),
    ("payload not a string", media(payload=123), True, False, "media needs a base64 'payload' string"),
    ("bad base64", media(payload="!!!!"), True, False, "media payload is not valid base64"),
    ("base64 with bad padding", media(payload="AQI"), True, False, "media payload is not valid base64"),
    ("payload over 64 KiB", media(payload="A" * 87392), True, False, "media payload is over 65536 bytes"),
    ("sequenceNumber a word", media(seq="x"), True, False, "sequenceNumber must be a number, got 'x'"),
    ("sequenceNumber a list", media(seq=[1]), True, False, "sequenceNumber must be a number, got [1]"),
    ("sequenceNumber a bool", media(seq=True), True, False, "sequenceNumber must be a number"),
    ("timestamp not a number", media(timestamp="soon"), True, False, "timestamp must be a number, got 'soon'"),
    ("chunk not a number", media(chunk={}), True, False, "chunk must be a number, got {}"),
    ("dtmf without object", frame(event="dtmf"), True, False, "'dtmf' needs a 'dtmf' object"),
    ("dtmf digit X", frame(event="dtmf", dtmf={"digit": "X"}), True, False, "must be one of 0-9 * # A-D, got 'X'"),
    ("dtmf two digits", frame(event="dtmf", dtmf={"digit": "12"}), True, False, "got '12'"),
    ("dtmf digit a number", frame(event="dtmf", dtmf={"digit": 5}), True, False, "got 5"),
    ("dtmf empty digit", frame(event="dtmf", dtmf={"digit": ""}), True, False, "got ''"),
    ("playedStream without name", frame(event="playedStream"), True, False, "playedStream needs a 'name' string"),
    ("played with numeric name", frame(event="played", name=3), True, False, "played needs a 'name' string"),
    ("start without start object", frame(event="start"), False, False, "'start' needs a 'start' object"),
    ("start without callId", start_with({"callId": None}), False, False, "start needs 'callId' and 'streamId'"),
    ("start without streamId", start_with({"streamId": None}), False, False, "start needs 'callId' and 'streamId'"),
    ("start with empty callId", start_with({"callId": ""}), False, False, "start needs 'callId' and 'streamId'"),
    ("start with numeric streamId", start_with({"streamId": 7}), False, False, "start needs 'callId' and 'streamId'"),
    ("mediaFormat a string", start_with({"mediaFormat": "mulaw"}), False, False, "start.mediaFormat must be an object"),
    ("mediaFormat a list", start_with({"mediaFormat": ["x"]}), False, False, "start.mediaFormat must be an object"),
    (
        "sampleRate a word",
        start_with({"mediaFormat": {"sampleRate": "x"}}),
        False,
        False,
        "sampleRate must be a number",
    ),
    ("encoding not a string", start_with({"mediaFormat": {"encoding": 1}}), False, False, "encoding must be a string"),
    ("tracks not a list", start_with({"tracks": "inbound"}), False, False, "start.tracks a list"),
]


@pytest.mark.parametrize(("text", "started", "fatal", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_frames_raise_codec_error(text, started, fatal, message):
    with pytest.raises(CodecError) as raised:
        plivo.parse(text, started=started)
    assert raised.value.fatal is fatal
    assert message in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_codec_error_messages_exact():
    with pytest.raises(CodecError) as raised:
        plivo.parse(media(), started=False)
    assert str(raised.value) == "'media' before 'start': the first frame must be 'start'"
    assert raised.value.fatal is True
    assert CodecError("x").fatal is False


# ---- the size limit ----
@pytest.mark.parametrize("size", [65534, 65535, 65536])
def test_payload_up_to_64_kib_accepted(size):
    audio = bytes(i % 256 for i in range(size))
    parsed = plivo.parse(media(payload=base64.b64encode(audio).decode()), started=True)
    assert parsed.payload == audio and len(parsed.payload) == size <= plivo.MAX_PAYLOAD_BYTES


@pytest.mark.parametrize("size", [65537, 65538, 65539, 70000])
def test_payload_over_64_kib_rejected(size):
    with pytest.raises(CodecError, match="media payload is over 65536 bytes") as raised:
        plivo.parse(media(payload=base64.b64encode(b"\x00" * size).decode()), started=True)
    assert raised.value.fatal is False
