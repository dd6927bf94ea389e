"""The turn-taking vocabulary: the events the machine in ``streaming.session`` takes and the actions it returns.

Plain frozen dataclasses; no asyncio, no Django. The runner turns VAD/STT/playback facts into events and carries
out the actions.
"""

from __future__ import annotations

from dataclasses import dataclass


# ---- events ----
@dataclass(frozen=True, slots=True)
class CallStarted:
    pass


@dataclass(frozen=True, slots=True)
class VoiceActivity:
    """Caller speech in the current segment (from the VAD): ``voiced_ms`` so far."""

    voiced_ms: int


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    pass


@dataclass(frozen=True, slots=True)
class CallerQuiet:
    """The caller has been quiet for a moment (``QUIET_MS``) inside an utterance the VAD has not closed yet."""


@dataclass(frozen=True, slots=True)
class PauseExpired:
    """The agent has been paused for the longest a pause may last (the decision is forced)."""


@dataclass(frozen=True, slots=True)
class Partial:
    text: str


@dataclass(frozen=True, slots=True)
class Final:
    text: str


@dataclass(frozen=True, slots=True)
class ReplyAudioStarted:
    pass


@dataclass(frozen=True, slots=True)
class PlaybackDone:
    """Everything queued for an utterance has played (or the bounded wait ran out)."""

    purpose: str


@dataclass(frozen=True, slots=True)
class ReplyFailed:
    message: str


@dataclass(frozen=True, slots=True)
class SilenceTimeout:
    pass


@dataclass(frozen=True, slots=True)
class MaxDuration:
    pass


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class EndCallRequested:
    reason: str


@dataclass(frozen=True, slots=True)
class TransferRequested:
    """The LLM's ``transfer_call``: ``destination`` is a configured destination's name ("" or "default": the
    agent's transfer number); ``summary`` is for the person who takes the call (a warm transfer)."""

    reason: str
    destination: str = ""
    summary: str = ""


@dataclass(frozen=True, slots=True)
class SendDtmfRequested:
    """The LLM's ``send_dtmf``: press ``digits`` on the call (another company's phone menu)."""

    digits: str


@dataclass(frozen=True, slots=True)
class StreamClosed:
    pass


@dataclass(frozen=True, slots=True)
class OperatorHangup:
    pass


@dataclass(frozen=True, slots=True)
class MachineAnswered:
    """Plivo's machine detection: an answering machine took the (outbound) call."""


@dataclass(frozen=True, slots=True)
class MachineQuiet:
    """After a machine answered: its greeting and beep are over (quiet long enough), or the wait ran out."""


Event = (
    CallStarted
    | VoiceActivity
    | SpeechEnded
    | CallerQuiet
    | PauseExpired
    | Partial
    | Final
    | ReplyAudioStarted
    | PlaybackDone
    | ReplyFailed
    | SilenceTimeout
    | MaxDuration
    | Dtmf
    | EndCallRequested
    | TransferRequested
    | SendDtmfRequested
    | StreamClosed
    | OperatorHangup
    | MachineAnswered
    | MachineQuiet
)


# ---- actions ----
@dataclass(frozen=True, slots=True)
class Say:
    """Speak a fixed line (no LLM). ``purpose``: greeting, reprompt, fallback, goodbye, transfer."""

    text: str
    purpose: str


@dataclass(frozen=True, slots=True)
class Reply:
    """Ask the LLM for the next reply and speak it as it streams."""


@dataclass(frozen=True, slots=True)
class RecordCallerTurn:
    """The caller said something: into the conversation, and (``store``) into the call's turns."""

    text: str
    store: bool = True


@dataclass(frozen=True, slots=True)
class Interrupt:
    """Barge-in: empty our send queue, clearAudio, cancel LLM/TTS, record the agent turn as interrupted."""


@dataclass(frozen=True, slots=True)
class Pause:
    """The caller's voice over the agent: empty our send queue, clearAudio, keep the unplayed rest."""


@dataclass(frozen=True, slots=True)
class Resume:
    """It was a backchannel or noise: go on from the first word the caller did not hear."""


@dataclass(frozen=True, slots=True)
class Prepare:
    """The caller stopped talking: start the reply on ``text`` (the latest partial) without sending anything."""

    text: str


@dataclass(frozen=True, slots=True)
class ReleasePrepared:
    """The final transcript says what the prepared reply was started on: send it."""


@dataclass(frozen=True, slots=True)
class DiscardPrepared:
    """The prepared reply answers words the caller did not end up saying: cancel it (nothing was sent)."""


@dataclass(frozen=True, slots=True)
class StartSilenceTimer:
    seconds: float


@dataclass(frozen=True, slots=True)
class StopSilenceTimer:
    pass


@dataclass(frozen=True, slots=True)
class HangUp:
    reason: str


@dataclass(frozen=True, slots=True)
class Transfer:
    """Hand the call to a person (``CallControl.transfer``) once the transfer line has played."""

    destination: str = ""
    summary: str = ""


@dataclass(frozen=True, slots=True)
class SendDtmf:
    """Send Plivo's ``sendDTMF`` frame with ``digits``."""

    digits: str


@dataclass(frozen=True, slots=True)
class AwaitBeep:
    """A machine answered: wait until it is quiet (its greeting and beep are over), then ``MachineQuiet``."""


@dataclass(frozen=True, slots=True)
class Close:
    """The stream is gone: cancel everything and close the call's records."""


Action = (
    Say
    | Reply
    | RecordCallerTurn
    | Interrupt
    | Pause
    | Resume
    | Prepare
    | ReleasePrepared
    | DiscardPrepared
    | StartSilenceTimer
    | StopSilenceTimer
    | HangUp
    | Transfer
    | SendDtmf
    | AwaitBeep
    | Close
)
