"""Framing and voice activity detection on real (offline eSpeak) speech padded with silence."""

from __future__ import annotations

import pytest

from streaming import audio
from streaming.audio import Framer, SpeechDetector, VadQuiet, VadSpeechEnd, VadSpeechStart, VadVoiced
from tests.speech import frames, silence_ulaw, synthesize_ulaw

LEAD_MS, TAIL_MS = 500, 1000
TEXTS = ["What are your opening hours?", "Wait, what about Sunday?", "Hello, I would like to book a table for two."]
DATA = bytes(i % 251 for i in range(1000))  # distinct, non-silence bytes


# ---- Framer ----
@pytest.mark.parametrize(
    ("sizes", "per_push", "tail"),
    [
        ([160], [1], None),
        ([320], [2], None),
        ([100, 100, 200], [0, 1, 1], 80),
        ([159, 1], [0, 1], None),
        ([161], [1], 1),
        ([0, 50], [0, 0], 50),
        ([1, 1, 1], [0, 0, 0], 3),
        ([480, 10], [3, 0], 10),
    ],
)
def test_framer(sizes, per_push, tail):
    framer, sent, got = Framer(), b"", []
    for size, expected in zip(sizes, per_push, strict=True):
        chunk = DATA[len(sent) : len(sent) + size]
        sent += chunk
        out = framer.push(chunk)
        assert len(out) == expected
        got += out
    assert all(len(f) == 160 for f in got)
    assert b"".join(got) == sent[: len(got) * 160]
    last = framer.flush()
    if tail is None:
        assert last is None
    else:
        assert last == sent[len(got) * 160 :] + b"\xff" * (160 - tail) and len(sent) - len(got) * 160 == tail
    assert framer.flush() is None


def test_framer_flush_then_reuse():
    framer = Framer()
    framer.push(DATA[:10])
    assert framer.flush() == DATA[:10] + b"\xff" * 150
    assert framer.push(DATA[:160]) == [DATA[:160]]


def test_audio_constants_and_helpers():
    assert (audio.FRAME_BYTES, audio.FRAME_MS, audio.SAMPLE_RATE) == (160, 20, 8000)
    assert audio.silence(20) == b"\xff" * 160 and audio.silence(0) == b""
    assert audio.ulaw_ms(b"\x00" * 160) == 20.0 and audio.ulaw_ms(b"\x00" * 80) == 10.0


# ---- SpeechDetector ----
def detect(ulaw: bytes, detector: SpeechDetector | None = None) -> list[tuple[int, object]]:
    """(frame start ms, event) for every event the detector returns."""
    detector = detector or SpeechDetector()
    return [(i * 20, e) for i, f in enumerate(frames(ulaw)) if (e := detector.process(f, i * 20)) is not None]


def padded(text: str) -> tuple[bytes, int]:
    """Speech between LEAD_MS and TAIL_MS of silence, and the ms at which the trailing silence starts."""
    speech = synthesize_ulaw(text)
    return silence_ulaw(LEAD_MS) + speech + silence_ulaw(TAIL_MS), LEAD_MS + len(speech) // 8


@pytest.mark.parametrize("end_of_speech_ms", [600, 300])
@pytest.mark.parametrize("text", TEXTS)
def test_one_segment_on_real_speech(text, end_of_speech_ms):
    ulaw, silence_at = padded(text)
    detector = SpeechDetector(end_of_speech_ms=end_of_speech_ms)
    every = detect(ulaw, detector)
    quiet = [(at, e) for at, e in every if isinstance(e, VadQuiet)]
    events = [(at, e) for at, e in every if not isinstance(e, VadQuiet)]
    kinds = [type(e) for _, e in events]
    assert kinds[0] is VadSpeechStart and kinds[-1] is VadSpeechEnd
    assert kinds[1:-1] == [VadVoiced] * (len(events) - 2) and len(events) > 10
    # the first 200 ms without voice after the last voiced frame says "quiet" once (pauses between words may too)
    assert quiet and quiet[-1][0] == events[-2][0] + 200

    (started_at, start), (ended_at, end) = events[0], events[-1]
    assert LEAD_MS <= start.onset_ms < LEAD_MS + 200  # the onset lies in the speech, near its start
    assert start.voiced_ms == 60  # three voiced frames open the segment
    assert started_at == start.onset_ms + 40  # reported on the third of three consecutive voiced frames

    totals = [start.voiced_ms] + [e.voiced_ms for _, e in events[1:-1]]
    assert totals == list(range(60, 60 + 20 * len(totals), 20))  # +20 ms per voiced frame, strictly increasing

    assert silence_at - 200 <= end.end_ms <= silence_at + 120  # webrtcvad hangover included (see strict test)
    assert end.end_ms <= events[-2][0] + 20  # at most just after the last frame the VAD called voiced
    assert ended_at == events[-2][0] + end_of_speech_ms  # emitted once end_of_speech_ms of non-speech passed
    assert detector.voiced_ms == 0


@pytest.mark.parametrize("text", TEXTS)
def test_speech_end_is_not_delayed_by_vad_hangover(text):
    """end_ms is "just after the last voiced frame": digital silence after the speech must not count as voice."""
    ulaw, silence_at = padded(text)
    end = detect(ulaw)[-1][1]
    assert isinstance(end, VadSpeechEnd)
    assert end.end_ms <= silence_at + 40, f"speech ended at {silence_at} ms, end_ms={end.end_ms}"


def test_framer_chunks_give_the_same_events():
    ulaw, _ = padded(TEXTS[0])
    framer, detector, events, at = Framer(), SpeechDetector(), [], 0
    for i in range(0, len(ulaw), 333):
        for frame in framer.push(ulaw[i : i + 333]):
            if (event := detector.process(frame, at)) is not None:
                events.append((at, event))
            at += 20
    if (tail := framer.flush()) is not None and (event := detector.process(tail, at)) is not None:
        events.append((at, event))
    assert events == detect(ulaw)


@pytest.mark.parametrize("ms", [0, 20, 1000, 3000])
def test_silence_only_gives_no_events(ms):
    assert detect(silence_ulaw(ms)) == []


def test_two_utterances_two_segments():
    first, second = synthesize_ulaw(TEXTS[0]), synthesize_ulaw(TEXTS[1])
    ulaw = silence_ulaw(LEAD_MS) + first + silence_ulaw(1500) + second + silence_ulaw(TAIL_MS)
    boundary = LEAD_MS + len(first) // 8 + 1500
    marks = [(at, e) for at, e in detect(ulaw) if not isinstance(e, VadVoiced | VadQuiet)]
    assert [type(e) for _, e in marks] == [VadSpeechStart, VadSpeechEnd, VadSpeechStart, VadSpeechEnd]
    assert marks[1][1].end_ms < boundary - 1000 and boundary <= marks[2][1].onset_ms < boundary + 200
    assert marks[2][1].voiced_ms == 60  # the second segment counts afresh


def test_quiet_is_reported_once_per_silence_and_never_outside_speech():
    """200 ms without voice inside an open segment says "quiet" once; silence outside a segment says nothing."""
    first = synthesize_ulaw(TEXTS[0])
    ulaw = silence_ulaw(LEAD_MS) + first + silence_ulaw(1500)
    events = detect(ulaw, SpeechDetector(end_of_speech_ms=600, quiet_ms=200))
    after_last_voice = [e for _, e in events][-3:]
    assert [type(e) for e in after_last_voice] == [VadVoiced, VadQuiet, VadSpeechEnd]
    last_voiced_at = max(at for at, e in events if isinstance(e, VadVoiced))
    quiet_at = [at for at, e in events if isinstance(e, VadQuiet)][-1]
    assert quiet_at == last_voiced_at + 200
    assert all(at > LEAD_MS for at, e in events if isinstance(e, VadQuiet))
    assert detect(silence_ulaw(2000)) == []


def test_restart_count_resets_the_voiced_total():
    ulaw, _ = padded(TEXTS[1])
    detector = SpeechDetector()
    totals: list[int] = []
    for i, frame in enumerate(frames(ulaw)):
        event = detector.process(frame, i * 20)
        if isinstance(event, VadVoiced):
            totals.append(event.voiced_ms)
            if len(totals) == 5:
                assert detector.voiced_ms == 160
                detector.restart_count()
                assert detector.voiced_ms == 0
    assert totals[:5] == [80, 100, 120, 140, 160]
    assert totals[5:8] == [20, 40, 60]
    assert totals[5:] == list(range(20, 20 * (len(totals) - 5) + 1, 20))


def test_restart_count_outside_speech_is_harmless():
    detector = SpeechDetector()
    detector.restart_count()
    assert detector.voiced_ms == 0
    ulaw, _ = padded(TEXTS[0])
    assert detect(ulaw, detector)[0][1].voiced_ms == 60


@pytest.mark.parametrize("size", [0, 80, 159, 161, 320])
def test_frames_of_the_wrong_size_are_not_speech(size):
    speech = synthesize_ulaw(TEXTS[0])
    assert SpeechDetector().is_speech(speech[1600 : 1600 + size]) is False


def test_real_speech_frames_are_speech():
    speech = frames(synthesize_ulaw(TEXTS[0]))
    detector = SpeechDetector()
    assert sum(detector.is_speech(f) for f in speech) > len(speech) // 2
    assert SpeechDetector().is_speech(silence_ulaw(20)) is False
