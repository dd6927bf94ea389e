"""Turn-taking: a pure state machine. Events in, actions out; no asyncio, no Django, no clocks.

States: listening → (caller's final transcript) → thinking → (first reply audio) → speaking → (played) → listening.
Caller voice over the agent (``interruption_mode``):
- "resume": pause at once (clearAudio, keep the rest); words that are not a backchannel make it a real
  interruption, a backchannel or no words by the time the caller is quiet resume the reply where the caller stopped
  hearing it. A pause never lasts longer than the runner's pause limit (``PauseExpired`` forces the decision).
- "words": keep talking until a non-backchannel word is recognised (or long speech), then interrupt.
Preemptive reply: when the VAD closes the caller's utterance before the STT final, the reply is prepared on the
latest partial and released only if the final says the same words.
Ending: the goodbye is spoken, and the call is hung up once it has played.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from streaming.backchannels import is_backchannel, same_words, words
from streaming.providers.config import CallConfig
from streaming.turns import (
    Action,
    AwaitBeep,
    CallerQuiet,
    CallStarted,
    Close,
    DiscardPrepared,
    Dtmf,
    EndCallRequested,
    Event,
    Final,
    HangUp,
    Interrupt,
    MachineAnswered,
    MachineQuiet,
    MaxDuration,
    OperatorHangup,
    Partial,
    Pause,
    PauseExpired,
    PlaybackDone,
    Prepare,
    RecordCallerTurn,
    ReleasePrepared,
    Reply,
    ReplyAudioStarted,
    ReplyFailed,
    Resume,
    Say,
    SendDtmf,
    SendDtmfRequested,
    SilenceTimeout,
    SpeechEnded,
    StartSilenceTimer,
    StopSilenceTimer,
    StreamClosed,
    Transfer,
    TransferRequested,
    VoiceActivity,
)

__all__ = ["BACKCHANNEL_GRACE_MS", "BACKCHANNEL_MAX_MS", "Session", "State", "is_backchannel", "words"]


class State(StrEnum):
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    PAUSED = "paused"  # the caller's voice paused the agent; deciding between resume and interruption
    ENDING = "ending"
    ENDED = "ended"
    VOICEMAIL = "voicemail"  # a machine answered: waiting for its beep (caller events are ignored)


BACKCHANNEL_GRACE_MS = 250  # with no transcript yet, wait this much more speech before interrupting ("words")
BACKCHANNEL_MAX_MS = 900  # speech this long interrupts even when it sounds like a backchannel
AGENT_TALKING = (State.THINKING, State.SPEAKING)


@dataclass
class Session:
    config: CallConfig
    state: State = State.LISTENING
    reprompts: int = 0
    voiced_ms: int = 0
    segment_text: str = ""
    pending_caller_text: list[str] = field(default_factory=list)
    paused_from: State = State.SPEAKING  # what the agent was doing when the caller's voice paused it
    transfer: Transfer = field(default_factory=Transfer)  # where the transfer goes once its line has played
    prepared: str = ""  # the partial a held reply was started on ("" when none)

    def handle(self, event: Event) -> list[Action]:
        if self.state is State.ENDED:
            return []
        if isinstance(event, StreamClosed):
            self.state = State.ENDED
            return self._drop_prepared([Close()])
        if isinstance(event, OperatorHangup):
            self.state = State.ENDED
            return self._drop_prepared([Interrupt(), HangUp("operator")])
        if self.state is State.VOICEMAIL and not isinstance(event, (MachineQuiet, MaxDuration)):
            return []
        handler = getattr(self, f"_on_{type(event).__name__}")
        actions: list[Action] = handler(event)
        if self.prepared and self.state is not State.LISTENING:
            return self._drop_prepared(actions)
        return actions

    # -- call lifecycle --
    def _on_CallStarted(self, event: CallStarted) -> list[Action]:
        if self.config.greeting:
            return self._say(self.config.greeting, "greeting")
        return self._listen()

    def _on_MaxDuration(self, event: MaxDuration) -> list[Action]:
        if self.state is State.ENDING:
            return []
        if self.state is State.VOICEMAIL:
            self.state = State.ENDED
            return [HangUp("answering machine: max call duration")]
        return self._end(interrupt=self.state in (*AGENT_TALKING, State.PAUSED))

    def _on_EndCallRequested(self, event: EndCallRequested) -> list[Action]:
        return self._end(interrupt=False) if self.state is not State.ENDING else []

    def _on_TransferRequested(self, event: TransferRequested) -> list[Action]:
        if self.state is State.ENDING:
            return []
        self.state = State.ENDING
        self.transfer = Transfer(event.destination, event.summary)
        return [StopSilenceTimer(), Say(self.config.transfer_line, "transfer")]

    def _on_SendDtmfRequested(self, event: SendDtmfRequested) -> list[Action]:
        """Keys pressed on the LLM's request (its reply goes on); never once the call is ending."""
        return [] if self.state is State.ENDING else [SendDtmf(event.digits)]

    # -- an answering machine (outbound calls) --
    def _on_MachineAnswered(self, event: MachineAnswered) -> list[Action]:
        """Stop talking to the machine; hang up, or wait for its beep to leave the voicemail message. Heard twice
        (the control message and the late read of the verdict), the second changes nothing."""
        if self.state in (State.ENDING, State.ENDED, State.VOICEMAIL):
            return []
        if self.config.voicemail_action == "hangup" or not self.config.voicemail_message.strip():
            self.state = State.ENDED
            return self._drop_prepared([Interrupt(), StopSilenceTimer(), HangUp("answering machine")])
        self.state = State.VOICEMAIL
        return self._drop_prepared([Interrupt(), StopSilenceTimer(), AwaitBeep()])

    def _on_MachineQuiet(self, event: MachineQuiet) -> list[Action]:
        if self.state is not State.VOICEMAIL:
            return []
        self.state = State.ENDING
        return [Say(self.config.voicemail_message, "voicemail")]

    # -- the caller --
    def _on_VoiceActivity(self, event: VoiceActivity) -> list[Action]:
        self.voiced_ms = event.voiced_ms
        if self.state is State.LISTENING:
            return self._drop_prepared([StopSilenceTimer()])
        if self.state is State.PAUSED:
            return self._barge_in() if self.voiced_ms >= BACKCHANNEL_MAX_MS else []
        if self.state in AGENT_TALKING and self._voice_pauses():
            return self._pause()
        if self.state in AGENT_TALKING and self._should_interrupt():
            return self._barge_in()
        return []

    def _on_CallerQuiet(self, event: CallerQuiet) -> list[Action]:
        return self._decide(self.segment_text) if self.state is State.PAUSED else []

    def _on_PauseExpired(self, event: PauseExpired) -> list[Action]:
        if self.state is not State.PAUSED:
            return []
        return self._barge_in() if self.voiced_ms else self._decide(self.segment_text)

    def _on_SpeechEnded(self, event: SpeechEnded) -> list[Action]:
        partial = self.segment_text
        self.voiced_ms, self.segment_text = 0, ""
        if self.state is State.PAUSED:
            return self._decide(partial)
        if self.state is State.LISTENING:  # noise or a cough: no transcript may follow
            return [StartSilenceTimer(self.config.silence_timeout_seconds), *self._prepare(partial)]
        return []

    def _on_Partial(self, event: Partial) -> list[Action]:
        self.segment_text = event.text
        if self.state is State.PAUSED and self._are_words(event.text):
            return self._barge_in()
        if self.state in AGENT_TALKING and self.voiced_ms and self._should_interrupt():
            return self._barge_in()
        if self.state is State.LISTENING and self.prepared and not self.voiced_ms:
            return self._prepare(event.text)  # a late partial after the VAD closed the utterance
        return []

    def _on_Final(self, event: Final) -> list[Action]:
        text = event.text.strip()
        self.segment_text, self.voiced_ms = "", 0
        if not text or self.state is State.ENDING:
            return [RecordCallerTurn(text)] if text else []
        if self.state is State.PAUSED:
            if not self._are_words(text):
                return self._resume()
            return [*self._barge_in(), *self._caller_said(text)]
        if self.state in AGENT_TALKING:
            if self._is_backchannel(text):
                return []
            if not self.config.barge_in_enabled:
                if self._is_end_phrase(text):
                    return [RecordCallerTurn(text), *self._end(interrupt=False)]
                self.pending_caller_text.append(text)
                return [RecordCallerTurn(text)]
            return [*self._barge_in(), *self._caller_said(text)]
        return self._caller_said(text)

    def _on_Dtmf(self, event: Dtmf) -> list[Action]:
        if self.state is State.ENDING:
            return []
        talking = self.state in (*AGENT_TALKING, State.PAUSED)
        interrupt = self._barge_in() if talking else []
        return [*interrupt, *self._caller_said(f"(The caller pressed {event.digit}.)", record=False)]

    def _caller_said(self, text: str, record: bool = True) -> list[Action]:
        self.reprompts = 0
        self.pending_caller_text.clear()
        recorded: list[Action] = [RecordCallerTurn(text, store=record)]
        if self._is_end_phrase(text):
            return self._drop_prepared([*recorded, *self._end(interrupt=False)])
        prepared, self.prepared = self.prepared, ""
        self.state = State.THINKING
        if prepared and same_words(prepared, text):
            return [StopSilenceTimer(), *recorded, ReleasePrepared()]
        return [*([DiscardPrepared()] if prepared else []), StopSilenceTimer(), *recorded, Reply()]

    def _is_end_phrase(self, text: str) -> bool:
        said = " ".join(words(text))
        return any(re.search(rf"\b{re.escape(p)}\b", said) for p in self.config.end_call_phrases if p)

    def _is_backchannel(self, text: str) -> bool:
        return is_backchannel(text, self.config.language)

    def _are_words(self, text: str) -> bool:
        """Recognised words that are not a backchannel: the caller is taking the turn."""
        return bool(words(text)) and not self._is_backchannel(text)

    def _voice_pauses(self) -> bool:
        c = self.config
        return c.barge_in_enabled and c.interruption_mode == "resume" and self.voiced_ms >= c.barge_in_min_speech_ms

    def _should_interrupt(self) -> bool:
        if not self.config.barge_in_enabled or self.voiced_ms < self.config.barge_in_min_speech_ms:
            return False
        if self.voiced_ms >= BACKCHANNEL_MAX_MS:
            return True
        if self.segment_text:
            return not self._is_backchannel(self.segment_text)
        return self.voiced_ms >= self.config.barge_in_min_speech_ms + BACKCHANNEL_GRACE_MS

    def _pause(self) -> list[Action]:
        if self.segment_text and self._are_words(self.segment_text):
            return self._barge_in()  # the words came before the voice reached the minimum
        self.paused_from, self.state = self.state, State.PAUSED
        return [Pause()]

    def _decide(self, heard: str) -> list[Action]:
        """The caller is quiet while the agent is paused: words in ``heard`` (the latest partial) mean an
        interruption, anything else resumes."""
        return self._barge_in() if self._are_words(heard) else self._resume()

    def _resume(self) -> list[Action]:
        self.state = self.paused_from
        return [Resume()]

    def _barge_in(self) -> list[Action]:
        self.state = State.LISTENING
        return [Interrupt()]

    def _prepare(self, partial: str) -> list[Action]:
        """Start the reply on ``partial`` (held) when the agent prepares replies and it is worth it."""
        if not (self.config.preemptive_reply and words(partial)) or self._is_end_phrase(partial):
            return []
        if self.prepared and same_words(self.prepared, partial):
            return []
        previous = self._drop_prepared([])
        self.prepared = partial
        return [*previous, Prepare(partial)]

    def _drop_prepared(self, actions: list[Action]) -> list[Action]:
        if not self.prepared:
            return actions
        self.prepared = ""
        return [DiscardPrepared(), *actions]

    # -- the agent's speech --
    def _on_ReplyAudioStarted(self, event: ReplyAudioStarted) -> list[Action]:
        if self.state is State.THINKING:
            self.state = State.SPEAKING
        elif self.state is State.PAUSED:
            self.paused_from = State.SPEAKING
        return []

    def _on_ReplyFailed(self, event: ReplyFailed) -> list[Action]:
        if self.state in (State.LISTENING, *AGENT_TALKING, State.PAUSED):
            return self._say(self.config.fallback_line, "fallback")
        return []

    def _on_PlaybackDone(self, event: PlaybackDone) -> list[Action]:
        if self.state is State.ENDING:
            if event.purpose == "goodbye":
                self.state = State.ENDED
                return [HangUp("agent ended the call")]
            if event.purpose == "transfer":
                self.state = State.ENDED
                return [self.transfer]
            if event.purpose == "voicemail":
                self.state = State.ENDED
                return [HangUp("voicemail left")]
            return []
        if self.state is State.PAUSED:  # it had all played when the caller's voice came: nothing to resume
            self.state = self.paused_from
        if self.state is not State.SPEAKING:
            return []
        if self.pending_caller_text:
            self.pending_caller_text.clear()
            self.state = State.THINKING
            return [Reply()]
        return self._listen()

    def _on_SilenceTimeout(self, event: SilenceTimeout) -> list[Action]:
        if self.state is not State.LISTENING or self.voiced_ms:
            return []
        if self.reprompts >= self.config.max_reprompts:
            return self._end(interrupt=False)
        self.reprompts += 1
        return self._say(self.config.reprompt_text, "reprompt")

    # -- helpers --
    def _say(self, text: str, purpose: str) -> list[Action]:
        self.state = State.SPEAKING
        return [StopSilenceTimer(), Say(text, purpose)]

    def _listen(self) -> list[Action]:
        self.state = State.LISTENING
        return [StartSilenceTimer(self.config.silence_timeout_seconds)]

    def _end(self, interrupt: bool) -> list[Action]:
        self.state = State.ENDING
        return [*([Interrupt()] if interrupt else []), StopSilenceTimer(), Say(self.config.goodbye_message, "goodbye")]
