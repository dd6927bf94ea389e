"""Fuzzing the stream socket with hypothesis: a few thousand random and mutated Plivo frames into one live call.
The consumer never fails (no 4500, nothing logged as a failure), the call still answers the caller afterwards,
and it ends cleanly with every task finished."""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
import os

import pytest
from asgiref.sync import sync_to_async
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calls.models import Call
from streaming import plivo
from streaming.inbound import FloodGuard
from tests.factories import make_agent
from tests.speech import synthesize_ulaw
from tests.stream_checks import assert_no_leaked_tasks, running_tasks, start_call

FRAMES = int(os.environ.get("FUZZ_FRAMES", "3000"))  # RELIABILITY.md's long run: FUZZ_FRAMES=100000

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
numbers = st.one_of(
    st.integers(),
    st.floats(),  # NaN, ±Infinity, 1e308 ...
    st.text(max_size=12),
    st.sampled_from(["1e400", "-1e400", "Infinity", "NaN", "", " 12 ", "0x10", "1_000", "١٢"]),
    st.none(),
    json_values,
)
payloads = st.one_of(
    st.binary(max_size=480).map(lambda b: base64.b64encode(b).decode()),
    st.text(max_size=40),
    json_values,
)


def media(sequence, chunk, timestamp, payload, track) -> dict:
    return {
        "event": "media",
        "sequenceNumber": sequence,
        "streamId": "stream-1",
        "media": {"track": track, "timestamp": timestamp, "chunk": chunk, "payload": payload},
    }


plivo_shaped = st.one_of(
    st.builds(media, numbers, numbers, numbers, payloads, st.one_of(st.just("inbound"), json_values)),
    st.builds(lambda d: {"event": "dtmf", "dtmf": {"digit": d}}, st.one_of(st.text(max_size=3), json_values)),
    st.builds(lambda n: {"event": "played", "name": n}, json_values),
    st.builds(lambda n: {"event": "playedStream", "name": n}, st.one_of(st.text(max_size=30), json_values)),
    st.builds(lambda e: {"event": e}, st.sampled_from(["clearedAudio", "playFailed", "error", "start", "connected"])),
    st.builds(lambda e, rest: {"event": e, **rest}, json_values, st.dictionaries(st.text(max_size=8), json_values)),
    st.builds(
        lambda s: {"event": "start", "start": s},  # a repeated (and mangled) start changes nothing
        st.dictionaries(st.sampled_from(["callId", "streamId", "mediaFormat", "tracks"]), json_values),
    ),
)


@st.composite
def frames(draw) -> str | bytes:
    kind = draw(st.sampled_from(["shaped", "shaped", "shaped", "mutated", "json", "text", "bytes", "deep"]))
    if kind == "shaped":
        return json.dumps(draw(plivo_shaped))  # allow_nan: NaN and Infinity go out as such
    if kind == "mutated":
        text = json.dumps(draw(plivo_shaped))
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 5))
        return (
            text[:at]
            + draw(st.sampled_from(["", "[", "{", "}", '"', "\\", "\x00", "1e400", "NaN", ","]))
            + text[at + cut :]
        )
    if kind == "json":
        return json.dumps(draw(json_values))
    if kind == "text":
        return draw(st.text(max_size=200))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    depth = draw(st.integers(8, 3000))
    return '{"event":"media","media":' + "[" * depth + "]" * depth + "}"


@pytest.fixture
def no_flood_limit(monkeypatch):
    """Thousands of frames at once are a flood by design (tests/test_audio_flood.py): lift it to fuzz the rest."""
    guard = functools.partial(FloodGuard, allowance_ms=10**9, limit_ms=10**9)
    monkeypatch.setattr("streaming.inbound.FloodGuard", guard)


def fuzzed_frames(count: int, per_example: int = 10) -> list[str | bytes]:
    """``count`` frames drawn by hypothesis (examples of ``per_example`` each); each one checked on the codec on
    the way: parsing raises nothing but CodecError."""
    drawn: list[str | bytes] = []

    @settings(max_examples=count // per_example, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(frames(), min_size=per_example, max_size=per_example))
    def draw(batch: list[str | bytes]) -> None:
        for frame in batch:
            for started in (False, True):
                with contextlib.suppress(plivo.CodecError):
                    plivo.parse(frame, started=started)
        drawn.extend(batch)

    draw()
    return drawn


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(max(300, FRAMES // 50))
async def test_thousands_of_fuzzed_frames_never_break_the_call(scripted, no_flood_limit, caplog):
    scripted.transcripts = ["still there"]
    scripted.replies = ["Yes, still here."]
    fuzzed = fuzzed_frames(FRAMES)
    assert len(fuzzed) >= FRAMES * 0.9  # hypothesis may stop early when it runs out of distinct examples
    await sync_to_async(make_agent)(greeting="")
    baseline = running_tasks()
    with caplog.at_level(logging.ERROR):
        caller = await start_call("call-1")
        for frame in fuzzed:  # as the ASGI server hands them over (an empty frame included)
            key = "bytes" if isinstance(frame, bytes) else "text"
            await caller.comm.send_input({"type": "websocket.receive", key: frame})
        await caller.send_audio(synthesize_ulaw("Still there"))
        await caller.send_silence(400)
        await caller.wait_for_checkpoints(1, timeout=20)  # the call still answers
        lost = caller.closed_code
        await caller.hang_up()
        await assert_no_leaked_tasks(baseline)
    assert lost is None  # calls lost: 0 of 1
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    call = await sync_to_async(Call.objects.get)()
    stream = call.metrics["stream"]
    print(f"fuzzed {len(fuzzed)} frames: {stream}")
    assert stream["frames_in"] > 0 and stream["bad_frames"] > 0 and stream["unknown_events"] > 0
