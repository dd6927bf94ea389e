"""The turn-taking machine's "resume" interruption mode and its preemptive reply: exact actions per event."""

from __future__ import annotations

import pytest

from streaming.session import BACKCHANNEL_MAX_MS, Session, State
from streaming.turns import (
    CallerQuiet,
    Close,
    DiscardPrepared,
    Dtmf,
    Final,
    Interrupt,
    MaxDuration,
    Partial,
    Pause,
    PauseExpired,
    PlaybackDone,
    Prepare,
    RecordCallerTurn,
    ReleasePrepared,
    Reply,
    ReplyAudioStarted,
    Resume,
    Say,
    SilenceTimeout,
    SpeechEnded,
    StartSilenceTimer,
    StopSilenceTimer,
    StreamClosed,
    VoiceActivity,
)
from tests.factories import make_config

TIMER, STOP = StartSilenceTimer(8.0), StopSilenceTimer()
HOURS = "What are your hours?"
ASK = [(Final(HOURS), [STOP, RecordCallerTurn(HOURS), Reply()])]
SPEAK = [*ASK, (ReplyAudioStarted(), [])]
PAUSED = [*SPEAK, (VoiceActivity(100), []), (VoiceActivity(150), [Pause()])]  # 150 ms: the default minimum
GOODBYE = Say("Goodbye!", "goodbye")


def resume_config(**overrides):
    return make_config(**{"goodbye_message": "Goodbye!", "end_call_phrases": ("bye",), **overrides})


CASES = {
    "voice pauses at the minimum": ({}, PAUSED, State.PAUSED),
    "pause -> backchannel partial -> quiet -> resume": (
        {},
        [*PAUSED, (Partial("mm-hmm"), []), (VoiceActivity(300), []), (CallerQuiet(), [Resume()])],
        State.SPEAKING,
    ),
    "pause -> backchannel final -> resume": ({}, [*PAUSED, (Final("Okay."), [Resume()])], State.SPEAKING),
    "pause -> noise only -> resume when quiet": (
        {},
        [*PAUSED, (VoiceActivity(200), []), (CallerQuiet(), [Resume()]), (Final(""), [])],
        State.SPEAKING,
    ),
    "pause -> words -> interrupt, then the final is answered": (
        {},
        [
            *PAUSED,
            (Partial("wait"), [Interrupt()]),
            (CallerQuiet(), []),
            (Final("Wait, on Sunday?"), [STOP, RecordCallerTurn("Wait, on Sunday?"), Reply()]),
        ],
        State.THINKING,
    ),
    "pause -> final with words -> interrupt and answer": (
        {},
        [*PAUSED, (Final("No, Sunday"), [Interrupt(), STOP, RecordCallerTurn("No, Sunday"), Reply()])],
        State.THINKING,
    ),
    "pause -> words in the last partial decide at the end of speech": (
        {"end_call_phrases": ()},
        [*PAUSED, (Partial("okay"), []), (Partial("okay but"), [Interrupt()])],
        State.LISTENING,
    ),
    "pause -> long voice without words interrupts": (
        {},
        [*PAUSED, (VoiceActivity(BACKCHANNEL_MAX_MS - 20), []), (VoiceActivity(BACKCHANNEL_MAX_MS), [Interrupt()])],
        State.LISTENING,
    ),
    "pause expired while the caller still talks -> interrupt": (
        {},
        [*PAUSED, (VoiceActivity(400), []), (PauseExpired(), [Interrupt()])],
        State.LISTENING,
    ),
    "pause expired after the voice ended without words -> resume": (
        {},
        [*PAUSED, (SpeechEnded(), [Resume()]), (PauseExpired(), [])],
        State.SPEAKING,
    ),
    "pause while thinking resumes to thinking": (
        {},
        [*ASK, (VoiceActivity(160), [Pause()]), (CallerQuiet(), [Resume()]), (ReplyAudioStarted(), [])],
        State.SPEAKING,
    ),
    "reply audio while paused resumes to speaking": (
        {},
        [*ASK, (VoiceActivity(160), [Pause()]), (ReplyAudioStarted(), []), (Final("yeah"), [Resume()])],
        State.SPEAKING,
    ),
    "reply played out just before the pause: listening": (
        {},
        [*PAUSED, (PlaybackDone("reply"), [TIMER])],
        State.LISTENING,
    ),
    "words before the minimum voice interrupt at once": (
        {},
        [*SPEAK, (VoiceActivity(60), []), (Partial("stop"), []), (VoiceActivity(160), [Interrupt()])],
        State.LISTENING,
    ),
    "dtmf while paused interrupts": (
        {},
        [*PAUSED, (Dtmf("3"), [Interrupt(), STOP, RecordCallerTurn("(The caller pressed 3.)", store=False), Reply()])],
        State.THINKING,
    ),
    "max duration while paused": ({}, [*PAUSED, (MaxDuration(), [Interrupt(), STOP, GOODBYE])], State.ENDING),
    "end phrase while paused": (
        {},
        [*PAUSED, (Final("bye"), [Interrupt(), RecordCallerTurn("bye"), STOP, GOODBYE])],
        State.ENDING,
    ),
    "silence timeout while paused ignored": ({}, [*PAUSED, (SilenceTimeout(), [])], State.PAUSED),
    "barge-in off: voice never pauses": (
        {"barge_in_enabled": False},
        [*SPEAK, (VoiceActivity(2000), []), (CallerQuiet(), []), (Partial("wait"), [])],
        State.SPEAKING,
    ),
    "minimum is configurable": (
        {"barge_in_min_speech_ms": 300},
        [*SPEAK, (VoiceActivity(280), []), (VoiceActivity(300), [Pause()])],
        State.PAUSED,
    ),
    # ---- preemptive reply ----
    "end of speech prepares on the last partial; a matching final releases it": (
        {},
        [
            (VoiceActivity(300), [STOP]),
            (Partial("what are your"), []),
            (Partial("what are your hours"), []),
            (SpeechEnded(), [TIMER, Prepare("what are your hours")]),
            (Final(HOURS), [STOP, RecordCallerTurn(HOURS), ReleasePrepared()]),
        ],
        State.THINKING,
    ),
    "a final with other words discards it and asks again": (
        {},
        [
            (Partial("what are your"), []),
            (SpeechEnded(), [TIMER, Prepare("what are your")]),
            (Final(HOURS), [DiscardPrepared(), STOP, RecordCallerTurn(HOURS), Reply()]),
        ],
        State.THINKING,
    ),
    "the caller talking on discards it": (
        {},
        [
            (Partial("what are your"), []),
            (SpeechEnded(), [TIMER, Prepare("what are your")]),
            (VoiceActivity(60), [DiscardPrepared(), STOP]),
            (Final(HOURS), [STOP, RecordCallerTurn(HOURS), Reply()]),
        ],
        State.THINKING,
    ),
    "a late partial re-prepares": (
        {},
        [
            (Partial("what are your"), []),
            (SpeechEnded(), [TIMER, Prepare("what are your")]),
            (Partial("what are your hours"), [DiscardPrepared(), Prepare("what are your hours")]),
            (Partial("What are your hours?"), []),
            (Final(HOURS), [STOP, RecordCallerTurn(HOURS), ReleasePrepared()]),
        ],
        State.THINKING,
    ),
    "an end phrase is never prepared": (
        {},
        [(Partial("ok bye"), []), (SpeechEnded(), [TIMER])],
        State.LISTENING,
    ),
    "an end phrase final discards the prepared reply": (
        {"end_call_phrases": ("that's all",)},
        [
            (Partial("that's"), []),
            (SpeechEnded(), [TIMER, Prepare("that's")]),
            (Final("That's all"), [DiscardPrepared(), RecordCallerTurn("That's all"), STOP, GOODBYE]),
        ],
        State.ENDING,
    ),
    "a reprompt discards the prepared reply": (
        {},
        [
            (Partial("hmm let me"), []),
            (SpeechEnded(), [TIMER, Prepare("hmm let me")]),
            (SilenceTimeout(), [DiscardPrepared(), STOP, Say("Are you still there?", "reprompt")]),
        ],
        State.SPEAKING,
    ),
    "stream closed discards it": (
        {},
        [
            (Partial("what"), []),
            (SpeechEnded(), [TIMER, Prepare("what")]),
            (StreamClosed(), [DiscardPrepared(), Close()]),
        ],
        State.ENDED,
    ),
    "preemptive off: nothing prepared": (
        {"preemptive_reply": False},
        [(Partial("what are your hours"), []), (SpeechEnded(), [TIMER])],
        State.LISTENING,
    ),
}


@pytest.mark.parametrize(("config", "steps", "final_state"), CASES.values(), ids=CASES.keys())
def test_resume_and_preemptive_turn_taking(config, steps, final_state):
    session = Session(resume_config(**config))
    got = [session.handle(event) for event, _ in steps]
    assert got == [actions for _, actions in steps]
    assert session.state == final_state


def test_backchannels_follow_the_agent_language():
    session = Session(resume_config(language="es-ES"))
    run = [e for e, _ in PAUSED]
    for event in run:
        session.handle(event)
    assert session.handle(Final("Vale, sí.")) == [Resume()]
    for event in run[2:]:
        session.handle(event)
    assert session.handle(Final("Espera")) == [Interrupt(), STOP, RecordCallerTurn("Espera"), Reply()]
