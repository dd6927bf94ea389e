"""Provider interfaces: speech-to-text, language model, text-to-speech.

This package is a leaf: it may import SDKs, Django settings and this module, never the apps.
Everything a provider needs to know about the agent comes in an ``AgentSpec`` built from the
call's agent snapshot (a plain dict).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal


class ProviderError(Exception):
    """A provider failed. ``permanent`` says whether retrying can help (bad key vs. timeout)."""

    def __init__(self, message: str, *, provider: str = "", permanent: bool = False) -> None:
        super().__init__(message)
        self.provider = provider
        self.permanent = permanent


@dataclass(frozen=True)
class FaqEntry:
    keywords: tuple[str, ...]
    question: str
    answer: str


@dataclass(frozen=True)
class ExtractionField:
    name: str
    type: str  # string | number | integer | boolean | date | email | phone
    description: str = ""


@dataclass(frozen=True)
class AgentSpec:
    """What providers need to know about the agent (built from the call's snapshot)."""

    name: str = "Agent"
    system_prompt: str = ""
    greeting: str = ""
    goodbye_message: str = "Goodbye!"
    language: str = "en-US"
    voice: str = "en-US-JennyNeural"
    speaking_rate: float = 1.0
    llm_model: str = "gpt-4o-mini"
    temperature: float = 0.7
    max_tokens: int = 300
    stt_provider: str = "auto"
    llm_provider: str = "auto"
    tts_provider: str = "auto"
    end_of_speech_ms: int = 600
    transfer_number: str = ""
    faq: tuple[FaqEntry, ...] = ()
    extraction_fields: tuple[ExtractionField, ...] = ()
    summary_instructions: str = ""
    version: int = 1

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any]) -> AgentSpec:
        """Build from an agent snapshot dict; unknown keys are ignored, missing ones defaulted."""
        names = {f.name for f in dataclasses.fields(cls)} - {"faq", "extraction_fields"}
        values = {k: v for k, v in snapshot.items() if k in names and v is not None}
        faq = tuple(
            FaqEntry(tuple(e.get("keywords", ())), e.get("question", ""), e.get("answer", ""))
            for e in snapshot.get("faq", ())
        )
        fields_ = tuple(
            ExtractionField(f["name"], f.get("type", "string"), f.get("description", ""))
            for f in snapshot.get("extraction_fields", ())
        )
        return cls(**values, faq=faq, extraction_fields=fields_)


@dataclass(frozen=True)
class Transcript:
    """A speech-to-text result. Partials may be revised; a final closes the caller's utterance."""

    text: str
    final: bool


Role = Literal["caller", "agent", "system", "tool"]


@dataclass(frozen=True)
class Message:
    """One turn of the conversation as the LLM sees it (agent turns carry what the caller heard)."""

    role: Role
    text: str


@dataclass
class Conversation:
    agent: AgentSpec
    messages: list[Message] = field(default_factory=list)
    caller_number: str = ""
    local_time: datetime | None = None
    previous_summary: str = ""


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCall:
    """A tool the LLM decided to call: ``end_call`` or ``transfer_call``."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


ReplyEvent = TextDelta | ToolCall | Usage


class SpeechToText(ABC):
    """One instance per call. ``feed`` is called for every 20 ms frame and must be cheap."""

    name = "stt"

    async def start(self) -> None:
        """Connect / prepare. Called once before the first ``feed``."""

    @abstractmethod
    def feed(self, ulaw: bytes) -> None:
        """Hand over caller audio (μ-law 8 kHz). Never blocks."""

    @abstractmethod
    def results(self) -> AsyncIterator[Transcript]:
        """Partial and final transcripts, in order, until ``close``. Raises ProviderError on failure."""

    async def close(self) -> None:
        """Release everything. Idempotent."""


class LanguageModel(ABC):
    """One instance per call."""

    name = "llm"

    @abstractmethod
    def reply(self, conversation: Conversation) -> AsyncIterator[ReplyEvent]:
        """Stream the agent's next reply. Raises ProviderError on failure."""

    async def close(self) -> None:
        """Release everything. Idempotent."""


class TextToSpeech(ABC):
    """One instance per call. Cancel a synthesis by closing its iterator (or cancelling the task)."""

    name = "tts"

    async def start(self) -> None:
        """Pre-connect / warm up. Called once at call start."""

    @abstractmethod
    def speak(self, text: str) -> AsyncIterator[bytes]:
        """Synthesize ``text`` as μ-law 8 kHz mono chunks (any size), first chunk as early as possible."""

    async def close(self) -> None:
        """Release everything. Idempotent."""
