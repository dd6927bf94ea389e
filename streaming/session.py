"""Turn-taking: a pure state machine. Events in, actions out; no asyncio, no Django, no clocks.

States: listening → (caller's final transcript) → thinking → (first reply audio) → speaking → (played) → listening.
Barge-in: caller speech while the agent thinks or speaks cancels the reply and clears Plivo's audio buffer.
Ending: the goodbye is spoken, and the call is hung up once it has played.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from streaming.providers.config import CallConfig
from streaming.turns import (
    Action,
    CallStarted,
    Close,
    Dtmf,
    EndCallRequested,
    Event,
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


class State(StrEnum):
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    ENDING = "ending"
    ENDED = "ended"


BACKCHANNELS = frozenset(
    "ok okay k mm mhm mmhmm mm-hmm hmm uh-huh uhhuh uh huh yeah yep yes yup right sure alright all got it "
    "i see cool great fine good".split()
)
BACKCHANNEL_GRACE_MS = 250  # with no transcript yet, wait this much more speech before interrupting
BACKCHANNEL_MAX_MS = 900  # speech this long interrupts even when it sounds like a backchannel
_WORD = re.compile(r"[a-z']+(?:-[a-z']+)*")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def is_backchannel(text: str) -> bool:
    found = words(text)
    return bool(found) and all(w in BACKCHANNELS for w in found) and len(found) <= 3


@dataclass
class Session:
    config: CallConfig
    state: State = State.LISTENING
    reprompts: int = 0
    voiced_ms: int = 0
    segment_text: str = ""
    pending_caller_text: list[str] = field(default_factory=list)

    def handle(self, event: Event) -> list[Action]:
        if self.state is State.ENDED:
            return []
        if isinstance(event, StreamClosed):
            self.state = State.ENDED
            return [Close()]
        if isinstance(event, OperatorHangup):
            self.state = State.ENDED
            return [Interrupt(), HangUp("operator")]
        handler = getattr(self, f"_on_{type(event).__name__}")
        return handler(event)

    # -- call lifecycle --
    def _on_CallStarted(self, event: CallStarted) -> list[Action]:
        if self.config.greeting:
            return self._say(self.config.greeting, "greeting")
        return self._listen()

    def _on_MaxDuration(self, event: MaxDuration) -> list[Action]:
        if self.state is State.ENDING:
            return []
        return self._end(interrupt=self.state in (State.THINKING, State.SPEAKING))

    def _on_EndCallRequested(self, event: EndCallRequested) -> list[Action]:
        return self._end(interrupt=False) if self.state is not State.ENDING else []

    def _on_TransferRequested(self, event: TransferRequested) -> list[Action]:
        if self.state is State.ENDING:
            return []
        self.state = State.ENDING
        return [StopSilenceTimer(), Say(self.config.transfer_line, "transfer")]

    # -- the caller --
    def _on_VoiceActivity(self, event: VoiceActivity) -> list[Action]:
        self.voiced_ms = event.voiced_ms
        actions: list[Action] = [StopSilenceTimer()] if self.state is State.LISTENING else []
        if self.state in (State.THINKING, State.SPEAKING) and self._should_interrupt():
            return self._barge_in()
        return actions

    def _on_SpeechEnded(self, event: SpeechEnded) -> list[Action]:
        self.voiced_ms, self.segment_text = 0, ""
        if self.state is State.LISTENING:  # noise or a cough: no transcript may follow
            return [StartSilenceTimer(self.config.silence_timeout_seconds)]
        return []

    def _on_Partial(self, event: Partial) -> list[Action]:
        self.segment_text = event.text
        if self.state in (State.THINKING, State.SPEAKING) and self.voiced_ms and self._should_interrupt():
            return self._barge_in()
        return []

    def _on_Final(self, event: Final) -> list[Action]:
        text = event.text.strip()
        self.segment_text, self.voiced_ms = "", 0
        if not text or self.state is State.ENDING:
            return [RecordCallerTurn(text)] if text else []
        if self.state in (State.THINKING, State.SPEAKING):
            if is_backchannel(text):
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
        interrupt = self._barge_in() if self.state in (State.THINKING, State.SPEAKING) else []
        return [*interrupt, *self._caller_said(f"(The caller pressed {event.digit}.)", record=False)]

    def _caller_said(self, text: str, record: bool = True) -> list[Action]:
        self.reprompts = 0
        self.pending_caller_text.clear()
        recorded: list[Action] = [RecordCallerTurn(text, store=record)]
        if self._is_end_phrase(text):
            return [*recorded, *self._end(interrupt=False)]
        self.state = State.THINKING
        return [StopSilenceTimer(), *recorded, Reply()]

    def _is_end_phrase(self, text: str) -> bool:
        said = " ".join(words(text))
        return any(re.search(rf"\b{re.escape(p)}\b", said) for p in self.config.end_call_phrases if p)

    def _should_interrupt(self) -> bool:
        if not self.config.barge_in_enabled or self.voiced_ms < self.config.barge_in_min_speech_ms:
            return False
        if self.voiced_ms >= BACKCHANNEL_MAX_MS:
            return True
        if self.segment_text:
            return not is_backchannel(self.segment_text)
        return self.voiced_ms >= self.config.barge_in_min_speech_ms + BACKCHANNEL_GRACE_MS

    def _barge_in(self) -> list[Action]:
        self.state = State.LISTENING
        return [Interrupt()]

    # -- the agent's speech --
    def _on_ReplyAudioStarted(self, event: ReplyAudioStarted) -> list[Action]:
        if self.state is State.THINKING:
            self.state = State.SPEAKING
        return []

    def _on_ReplyFailed(self, event: ReplyFailed) -> list[Action]:
        if self.state in (State.LISTENING, State.THINKING, State.SPEAKING):
            return self._say(self.config.fallback_line, "fallback")
        return []

    def _on_PlaybackDone(self, event: PlaybackDone) -> list[Action]:
        if self.state is State.ENDING:
            if event.purpose == "goodbye":
                self.state = State.ENDED
                return [HangUp("agent ended the call")]
            if event.purpose == "transfer":
                self.state = State.ENDED
                return [Transfer()]
            return []
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
