"""The turn-taking machine when Plivo's machine detection says an answering machine took the call."""

from __future__ import annotations

from streaming.session import Session, State
from streaming.turns import (
    AwaitBeep,
    CallStarted,
    Final,
    HangUp,
    Interrupt,
    MachineAnswered,
    MachineQuiet,
    MaxDuration,
    PlaybackDone,
    Say,
    StopSilenceTimer,
    VoiceActivity,
)
from tests.factories import make_config

MESSAGE = "Hi Ana, please call us back."


def greeting_session(**config) -> Session:
    session = Session(make_config(**{"greeting": "Hello Ana!", "voicemail_message": MESSAGE} | config))
    assert session.handle(CallStarted()) == [StopSilenceTimer(), Say("Hello Ana!", "greeting")]
    return session


def test_machine_stops_the_greeting_waits_for_the_beep_then_leaves_the_message():
    session = greeting_session()
    assert session.handle(MachineAnswered()) == [Interrupt(), StopSilenceTimer(), AwaitBeep()]
    assert session.state is State.VOICEMAIL
    # the machine's greeting is not talked to
    assert session.handle(VoiceActivity(900)) == []
    assert session.handle(Final("Please leave a message after the tone")) == []
    assert session.handle(MachineQuiet()) == [Say(MESSAGE, "voicemail")]
    assert session.handle(PlaybackDone("voicemail")) == [HangUp("voicemail left")]
    assert session.state is State.ENDED


def test_hang_up_setting_ends_the_call_at_once():
    session = greeting_session(voicemail_action="hangup")
    assert session.handle(MachineAnswered()) == [Interrupt(), StopSilenceTimer(), HangUp("answering machine")]
    assert session.handle(MachineQuiet()) == []


def test_an_empty_message_hangs_up():
    session = greeting_session(voicemail_message=" ")
    assert session.handle(MachineAnswered())[-1] == HangUp("answering machine")


def test_max_duration_while_waiting_for_the_beep_hangs_up():
    session = greeting_session()
    session.handle(MachineAnswered())
    assert session.handle(MaxDuration()) == [HangUp("answering machine: max call duration")]


def test_machine_verdict_while_saying_goodbye_changes_nothing():
    session = greeting_session()
    session.state = State.ENDING
    assert session.handle(MachineAnswered()) == []


def test_a_second_machine_verdict_changes_nothing():
    """The control message and the late read of the verdict (streaming/consumers.py) may both arrive."""
    session = greeting_session()
    assert session.handle(MachineAnswered()) == [Interrupt(), StopSilenceTimer(), AwaitBeep()]
    assert session.handle(MachineAnswered()) == []
    assert session.state is State.VOICEMAIL
    assert session.handle(MachineQuiet()) == [Say(MESSAGE, "voicemail")]
    assert session.handle(PlaybackDone("voicemail")) == [HangUp("voicemail left")]
    assert session.handle(MachineAnswered()) == []
