"""The listener's stream clock for the caller's turns."""

from __future__ import annotations

from streaming.listener import Listener
from tests.fakes.scripted import ScriptedSTT


def listener() -> Listener:
    async def restart():  # pragma: no cover - not reached here
        raise AssertionError

    return Listener(
        ScriptedSTT(),
        600,
        lambda event: None,
        on_partial=lambda text: None,
        on_stt_failure=print,
        restart_stt=restart,
        opened_at=0.0,
    )


def test_a_turn_whose_speech_started_with_the_stream_ends_now_until_the_vad_closes_it():
    heard = listener()
    heard.caller_ms = 1500  # speech from the first frame (onset 0); the final came before the VAD's end of speech
    assert heard.caller_turn_end_ms() == 1500


def test_a_closed_segment_ends_at_its_last_voiced_frame():
    heard = listener()
    heard.caller_ms, heard.speech_onset_ms, heard.speech_end_ms = 4000, 1200, 2600
    assert heard.caller_turn_end_ms() == 2600
    heard.speech_onset_ms = 3000  # a new segment has started and not ended yet
    assert heard.caller_turn_end_ms() == 4000
