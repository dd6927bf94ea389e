"""CallRecorder: a stereo 8 kHz 16-bit WAV, caller left, agent right, in the slot the agent audio played."""

from __future__ import annotations

import audioop
import wave

import pytest

from streaming.recording import CallRecorder

T0 = 1000.0
SILENT = b"\x00\x00" * 160


def caller(i: int) -> bytes:
    return bytes([0x10 + i]) * 160


def agent(i: int) -> bytes:
    return bytes([0x90 + i]) * 160


def pcm(ulaw: bytes) -> bytes:
    return audioop.ulaw2lin(ulaw, 2)


def at(slot: int) -> float:
    return T0 + slot * 0.02


def read(path) -> tuple[list[bytes], list[bytes]]:
    """(left, right) as 20 ms slots of 16-bit PCM."""
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        data = wav.readframes(wav.getnframes())
        assert wav.getnframes() * 4 == len(data)
    left, right = audioop.tomono(data, 2, 1, 0), audioop.tomono(data, 2, 0, 1)
    return [left[i : i + 320] for i in range(0, len(left), 320)], [
        right[i : i + 320] for i in range(0, len(right), 320)
    ]


@pytest.fixture
def recorder(tmp_path):
    rec = CallRecorder(tmp_path / "nested" / "dir" / "call.wav", started_at=T0)
    yield rec
    rec.close()


def test_caller_left_agent_right_in_its_slot(recorder):
    for slot in (1, 2, 3):
        recorder.agent_frame(at(slot), agent(slot))
    for i in range(5):
        recorder.caller_frame(caller(i))
    recorder.close()
    left, right = read(recorder.path)
    assert len(left) == len(right) == 5
    assert left == [pcm(caller(i)) for i in range(5)]
    assert right == [SILENT, pcm(agent(1)), pcm(agent(2)), pcm(agent(3)), SILENT]


def test_wav_length_is_the_number_of_caller_frames(recorder):
    for i in range(50):
        recorder.caller_frame(caller(i % 16))
    recorder.close()
    with wave.open(str(recorder.path), "rb") as wav:
        assert wav.getnframes() == 50 * 160
        assert wav.getnframes() / wav.getframerate() == 1.0


def test_trailing_agent_frames_are_appended_after_the_caller(recorder):
    for i in range(3):
        recorder.caller_frame(caller(i))
    for slot in (2, 3, 4):  # slot 2 has passed: the frame lands in the next free slot, 3
        recorder.agent_frame(at(slot), agent(slot))
    recorder.close()
    left, right = read(recorder.path)
    assert len(left) == 3 + 3
    assert left == [pcm(caller(0)), pcm(caller(1)), pcm(caller(2)), SILENT, SILENT, SILENT]
    assert right == [SILENT] * 3 + [pcm(agent(2)), pcm(agent(3)), pcm(agent(4))]


def test_trailing_agent_frames_keep_their_slots(recorder):
    recorder.caller_frame(caller(0))
    recorder.agent_frame(at(3), agent(3))
    recorder.close()
    _, right = read(recorder.path)
    assert right == [SILENT, SILENT, SILENT, pcm(agent(3))]


def test_late_agent_frame_goes_to_the_current_slot(recorder):
    for i in range(4):
        recorder.caller_frame(caller(i))
    recorder.agent_frame(at(0), agent(0))
    recorder.caller_frame(caller(4))
    recorder.close()
    _, right = read(recorder.path)
    assert right == [SILENT] * 4 + [pcm(agent(0))]


def test_agent_frames_for_the_same_slot_queue_up(recorder):
    recorder.agent_frame(at(1), agent(1))
    recorder.agent_frame(at(1), agent(2))
    recorder.agent_frame(at(1.4), agent(3))  # rounds to slot 1, both taken
    for i in range(5):
        recorder.caller_frame(caller(i))
    recorder.close()
    _, right = read(recorder.path)
    assert right == [SILENT, pcm(agent(1)), pcm(agent(2)), pcm(agent(3)), SILENT]


@pytest.mark.parametrize(
    ("cut_slot", "kept"),
    [(3, {1, 2}), (1, set()), (0, set()), (6, {1, 2, 3, 4, 5}), (2.6, {1, 2})],
)
def test_dropped_agent_frames_are_silence(recorder, cut_slot, kept):
    for slot in range(1, 6):
        recorder.agent_frame(at(slot), agent(slot))
    recorder.drop_agent_after(at(cut_slot))
    for i in range(7):
        recorder.caller_frame(caller(i))
    recorder.close()
    left, right = read(recorder.path)
    assert len(left) == 7
    assert right == [pcm(agent(s)) if s in kept else SILENT for s in range(7)]


def test_close_is_idempotent_and_stops_writing(recorder):
    recorder.caller_frame(caller(0))
    recorder.close()
    recorder.close()
    recorder.caller_frame(caller(1))
    assert recorder.closed
    left, _ = read(recorder.path)
    assert left == [pcm(caller(0))]


def test_empty_recording_is_a_valid_wav(recorder):
    recorder.close()
    assert read(recorder.path) == ([], [])
