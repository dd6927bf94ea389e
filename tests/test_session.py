"""The turn-taking state machine: event lists in, exact action lists out, one case per row."""

from __future__ import annotations

import pytest

from streaming import session as s
from streaming.providers.config import CallConfig
from streaming.session import BACKCHANNEL_GRACE_MS, BACKCHANNEL_MAX_MS, Session, State
from streaming.turns import (
    CallStarted,
    Close,
    Dtmf,
    EndCallRequested,
    Final,
    HangUp,
    Interrupt,
    MaxDuration,
    OperatorHangup,
    Partial,
    PlaybackDone,
    RecordCallerTurn,
    Reply,
    ReplyAudioStarted,
    ReplyFailed,
    Say,
    SilenceTimeout,
    SpeechEnded,
    StartSilenceTimer,
    StopSilenceTimer,
    StreamClosed,
    Transfer,
    TransferRequested,
    VoiceActivity,
)
from tests.factories import make_config

TIMER, STOP = StartSilenceTimer(8.0), StopSilenceTimer()


def turn_config(**overrides) -> CallConfig:
    """An agent with the model's defaults, no end-call phrases and a short goodbye, unless a case says otherwise.

    This table pins the "words" interruption mode (stop once a real word is recognised, 250 ms minimum) without
    preemptive replies; tests/test_session_resume.py has the "resume" mode and the preemptive reply."""
    defaults = {"interruption_mode": "words", "barge_in_min_speech_ms": 250, "preemptive_reply": False}
    return make_config(**{"goodbye_message": "Goodbye!", "end_call_phrases": (), **defaults, **overrides})


GOODBYE = Say("Goodbye!", "goodbye")
REPROMPT = Say("Are you still there?", "reprompt")
HOURS = "What are your hours?"
ASK = [(Final(HOURS), [STOP, RecordCallerTurn(HOURS), Reply()])]  # listening -> thinking
SPEAK = [*ASK, (ReplyAudioStarted(), [])]  # -> speaking
HUNG_UP = [(PlaybackDone("goodbye"), [HangUp("agent ended the call")])]
DEAD = [(e, []) for e in (Final("hello"), VoiceActivity(2000), SilenceTimeout(), PlaybackDone("goodbye"), Dtmf("1"))]
DEAD += [(e, []) for e in (ReplyFailed("x"), MaxDuration(), StreamClosed(), OperatorHangup(), CallStarted())]

CASES = {
    "greeting at start": ({"greeting": "Hi!"}, [(CallStarted(), [STOP, Say("Hi!", "greeting")])], State.SPEAKING),
    "greeting played -> listening": (
        {"greeting": "Hi!"},
        [(CallStarted(), [STOP, Say("Hi!", "greeting")]), (PlaybackDone("greeting"), [TIMER])],
        State.LISTENING,
    ),
    "no greeting -> silence timer": (
        {"silence_timeout_seconds": 5.5},
        [(CallStarted(), [StartSilenceTimer(5.5)])],
        "L",
    ),
    "final while listening": ({}, ASK, State.THINKING),
    "final text is stripped": ({}, [(Final("  hi  "), [STOP, RecordCallerTurn("hi"), Reply()])], State.THINKING),
    "empty final ignored": ({}, [(Final("   "), [])], State.LISTENING),
    "reply audio -> speaking": ({}, SPEAK, State.SPEAKING),
    "second reply audio is a no-op": ({}, [*SPEAK, (ReplyAudioStarted(), [])], State.SPEAKING),
    "playback done -> listening + timer": ({}, [*SPEAK, (PlaybackDone("reply"), [TIMER])], State.LISTENING),
    "playback done while listening ignored": ({}, [(PlaybackDone("reply"), [])], State.LISTENING),
    "voice while listening stops the timer": ({}, [(VoiceActivity(20), [STOP])], State.LISTENING),
    "barge-in: partial then enough voice": (
        {},
        [
            *SPEAK,
            (VoiceActivity(100), []),
            (Partial("wait a"), []),
            (VoiceActivity(240), []),
            (VoiceActivity(260), [Interrupt()]),
            (Final("wait a second"), [STOP, RecordCallerTurn("wait a second"), Reply()]),
        ],
        State.THINKING,
    ),
    "barge-in: enough voice then partial": (
        {},
        [*SPEAK, (VoiceActivity(300), []), (Partial("hold on"), [Interrupt()]), (VoiceActivity(320), [STOP])],
        State.LISTENING,
    ),
    "barge-in: min_speech_ms is configurable": (
        {"barge_in_min_speech_ms": 400},
        [*SPEAK, (Partial("stop"), []), (VoiceActivity(380), []), (VoiceActivity(400), [Interrupt()])],
        State.LISTENING,
    ),
    "barge-in without partial waits for the grace": (
        {},
        [
            *SPEAK,
            (VoiceActivity(260), []),
            (VoiceActivity(250 + BACKCHANNEL_GRACE_MS - 20), []),
            (VoiceActivity(250 + BACKCHANNEL_GRACE_MS), [Interrupt()]),
        ],
        State.LISTENING,
    ),
    "backchannel partial waits until BACKCHANNEL_MAX_MS": (
        {},
        [
            *SPEAK,
            (VoiceActivity(100), []),
            (Partial("uh huh"), []),
            (VoiceActivity(600), []),
            (VoiceActivity(BACKCHANNEL_MAX_MS - 20), []),
            (VoiceActivity(BACKCHANNEL_MAX_MS), [Interrupt()]),
        ],
        State.LISTENING,
    ),
    "speech ended resets the segment": (
        {},
        [*SPEAK, (Partial("yeah"), []), (VoiceActivity(480), []), (SpeechEnded(), []), (VoiceActivity(260), [])],
        State.SPEAKING,
    ),
    "backchannel final while speaking ignored": (
        {},
        [*SPEAK, (VoiceActivity(300), []), (Final("Mm-hmm."), []), (PlaybackDone("reply"), [TIMER])],
        State.LISTENING,
    ),
    "final while speaking interrupts and answers": (
        {},
        [*SPEAK, (Final("No, Sunday"), [Interrupt(), STOP, RecordCallerTurn("No, Sunday"), Reply()])],
        State.THINKING,
    ),
    "barge-in off: no interrupt, answered after playback": (
        {"barge_in_enabled": False},
        [
            *SPEAK,
            (Partial("what about"), []),
            (VoiceActivity(2000), []),
            (Final("What about Sunday?"), [RecordCallerTurn("What about Sunday?")]),
            (PlaybackDone("reply"), [Reply()]),
            (ReplyAudioStarted(), []),
            (PlaybackDone("reply"), [TIMER]),
        ],
        State.LISTENING,
    ),
    "barge-in off: backchannel final not recorded": (
        {"barge_in_enabled": False},
        [*SPEAK, (Final("okay"), []), (PlaybackDone("reply"), [TIMER])],
        State.LISTENING,
    ),
    "barge-in during thinking": ({}, [*ASK, (VoiceActivity(300), []), (VoiceActivity(500), [Interrupt()])], "L"),
    "final during thinking": (
        {},
        [*ASK, (Final("and Sunday?"), [Interrupt(), STOP, RecordCallerTurn("and Sunday?"), Reply()])],
        State.THINKING,
    ),
    "silence: reprompts, goodbye, hang-up after it played": (
        {},
        [
            (CallStarted(), [TIMER]),
            (SilenceTimeout(), [STOP, REPROMPT]),
            (PlaybackDone("reprompt"), [TIMER]),
            (SilenceTimeout(), [STOP, REPROMPT]),
            (PlaybackDone("reprompt"), [TIMER]),
            (SilenceTimeout(), [STOP, GOODBYE]),
            (VoiceActivity(600), []),
            (Final("wait"), [RecordCallerTurn("wait")]),
            (SilenceTimeout(), []),
            (PlaybackDone("reprompt"), []),
            *HUNG_UP,
            *DEAD,
        ],
        State.ENDED,
    ),
    "silence: max_reprompts 0 says goodbye at once": (
        {"max_reprompts": 0, "goodbye_message": "Bye now."},
        [
            (SilenceTimeout(), [STOP, Say("Bye now.", "goodbye")]),
            (PlaybackDone("goodbye"), [HangUp("agent ended the call")]),
        ],
        State.ENDED,
    ),
    "silence: caller speech resets the reprompt count": (
        {"max_reprompts": 1},
        [
            (SilenceTimeout(), [STOP, REPROMPT]),
            (PlaybackDone("reprompt"), [TIMER]),
            *ASK,
            (ReplyAudioStarted(), []),
            (PlaybackDone("reply"), [TIMER]),
            (SilenceTimeout(), [STOP, REPROMPT]),
        ],
        State.SPEAKING,
    ),
    "silence timeout while voiced ignored": ({}, [(VoiceActivity(300), [STOP]), (SilenceTimeout(), [])], "L"),
    "silence timeout while speaking ignored": ({}, [*SPEAK, (SilenceTimeout(), [])], State.SPEAKING),
    "max duration while listening": ({}, [(MaxDuration(), [STOP, GOODBYE]), *HUNG_UP], State.ENDED),
    "max duration while speaking": (
        {},
        [*SPEAK, (MaxDuration(), [Interrupt(), STOP, GOODBYE]), (PlaybackDone("reply"), []), *HUNG_UP],
        State.ENDED,
    ),
    "max duration while thinking": ({}, [*ASK, (MaxDuration(), [Interrupt(), STOP, GOODBYE])], State.ENDING),
    "end phrase ends the call": (
        {"end_call_phrases": ("goodbye", "that's all")},
        [(Final("Okay, goodbye!"), [RecordCallerTurn("Okay, goodbye!"), STOP, GOODBYE]), *HUNG_UP],
        State.ENDED,
    ),
    "end phrase of two words": (
        {"end_call_phrases": ("that's all",)},
        [(Final("That's all, thanks"), [RecordCallerTurn("That's all, thanks"), STOP, GOODBYE])],
        State.ENDING,
    ),
    "end phrase matches whole words only": (
        {"end_call_phrases": ("goodbye",)},
        [(Final("Goodbyes are sad"), [STOP, RecordCallerTurn("Goodbyes are sad"), Reply()])],
        State.THINKING,
    ),
    "end phrase while speaking interrupts": (
        {"end_call_phrases": ("bye",)},
        [*SPEAK, (Final("bye"), [Interrupt(), RecordCallerTurn("bye"), STOP, GOODBYE])],
        State.ENDING,
    ),
    "dtmf while listening": (
        {},
        [(Dtmf("5"), [STOP, RecordCallerTurn("(The caller pressed 5.)", store=False), Reply()])],
        State.THINKING,
    ),
    "dtmf while speaking": (
        {},
        [*SPEAK, (Dtmf("#"), [Interrupt(), STOP, RecordCallerTurn("(The caller pressed #.)", store=False), Reply()])],
        State.THINKING,
    ),
    "dtmf while ending ignored": ({}, [(MaxDuration(), [STOP, GOODBYE]), (Dtmf("1"), [])], State.ENDING),
    "end_call tool while speaking": (
        {},
        [
            *SPEAK,
            (EndCallRequested("done"), [STOP, GOODBYE]),
            (EndCallRequested("again"), []),
            (PlaybackDone("reply"), []),
            *HUNG_UP,
        ],
        State.ENDED,
    ),
    "transfer tool": (
        {"transfer_line": "Hold on."},
        [
            *SPEAK,
            (TransferRequested("billing"), [STOP, Say("Hold on.", "transfer")]),
            (TransferRequested("x"), []),
            (EndCallRequested("x"), []),
            (PlaybackDone("reply"), []),
            (PlaybackDone("transfer"), [Transfer()]),
            *DEAD,
        ],
        State.ENDED,
    ),
    "stream closed while thinking": ({}, [*ASK, (StreamClosed(), [Close()]), (ReplyAudioStarted(), []), *DEAD], "E"),
    "operator hang-up": ({}, [*SPEAK, (OperatorHangup(), [Interrupt(), HangUp("operator")]), *DEAD], State.ENDED),
    "reply failed -> fallback line": (
        {"fallback_line": "Sorry?"},
        [*ASK, (ReplyFailed("llm down"), [STOP, Say("Sorry?", "fallback")]), (PlaybackDone("fallback"), [TIMER])],
        State.LISTENING,
    ),
    "reply failed while ending ignored": ({}, [(MaxDuration(), [STOP, GOODBYE]), (ReplyFailed("x"), [])], "ending"),
}


@pytest.mark.parametrize(("config", "steps", "final_state"), CASES.values(), ids=CASES.keys())
def test_turn_taking(config, steps, final_state):
    session = Session(turn_config(**config))
    got = [session.handle(event) for event, _ in steps]
    assert got == [actions for _, actions in steps]
    short = {"L": State.LISTENING, "E": State.ENDED}
    assert session.state == short.get(final_state, final_state)


# ---- behaviour the table above does not pin down yet: these describe what should happen ----
def run(session: Session, events: list) -> list:
    return [action for event in events for action in session.handle(event)]


def test_speech_without_transcript_rearms_the_silence_timer():
    """A cough while listening stops the silence timer; with no transcript nothing must leave it stopped."""
    session = Session(turn_config())
    actions = run(session, [CallStarted(), VoiceActivity(300), SpeechEnded(), Final("")])
    assert actions[-1] == TIMER, actions


def test_max_duration_while_goodbye_plays_says_nothing_more():
    session = Session(turn_config(end_call_phrases=("bye",)))
    run(session, [Final("bye")])
    assert session.handle(MaxDuration()) == []
    assert session.handle(PlaybackDone("goodbye")) == [HangUp("agent ended the call")]


def test_barge_in_off_end_phrase_while_speaking_still_ends_the_call():
    session = Session(turn_config(barge_in_enabled=False, end_call_phrases=("goodbye",)))
    actions = run(session, [e for e, _ in SPEAK] + [Final("Goodbye"), PlaybackDone("reply")])
    assert GOODBYE in actions and actions.count(Reply()) == 1  # only the first question is answered


def test_dtmf_reply_consumes_pending_caller_text():
    session = Session(turn_config(barge_in_enabled=False))
    run(session, [e for e, _ in SPEAK] + [Final("and Sunday?"), Dtmf("1"), ReplyAudioStarted()])
    assert session.handle(PlaybackDone("reply")) == [TIMER]  # the DTMF reply already saw "and Sunday?"


# ---- helpers ----
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yeah", True),
        ("Yeah.", True),
        ("uh huh", True),
        ("Uh-huh!", True),
        ("mm-hmm", True),
        ("Mmhmm", True),
        ("I see", True),
        ("all right", True),
        ("ok got it", True),
        ("right right right", True),
        ("right right right right", False),
        ("okay sure got it", False),
        ("yes please", False),
        ("wait", False),
        ("no", False),
        ("great thanks", False),
        ("", False),
        ("...", False),
    ],
)
def test_is_backchannel(text, expected):
    assert s.is_backchannel(text) is expected


def test_words():
    assert s.words("Don't STOP, mm-hmm... 42 rock-n-roll") == ["don't", "stop", "mm-hmm", "rock-n-roll"]
