"""Provider interfaces: speech-to-text, language model, text-to-speech, and the after-call analyzer.

This package is a leaf: it may import SDKs, Django settings and its own modules, never the apps.
Everything a provider needs to know about the agent comes in the call's ``CallConfig``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from streaming.providers.config import CallConfig


class ProviderError(Exception):
    """A provider failed. ``permanent`` says whether retrying can help (bad key vs. timeout)."""

    def __init__(self, message: str, *, provider: str = "", permanent: bool = False) -> None:
        super().__init__(message)
        self.provider = provider
        self.permanent = permanent


@dataclass(frozen=True)
class Transcript:
    """A speech-to-text result. Partials may be revised; a final closes the caller's utterance."""

    text: str
    final: bool


Role = Literal["caller", "agent", "system", "tool"]


@dataclass(frozen=True)
class ToolCall:
    """A tool the LLM decided to call: a built-in (``end_call``, ``transfer_call``, ``send_dtmf``, ``remember``,
    ``recall``) or one of the agent's HTTP tools, by name."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Message:
    """One turn of the conversation as the LLM sees it (agent turns carry what the caller heard).

    An agent message with ``tool_calls`` asked for tools (its ``text`` is what it said before); each answer is a
    ``tool`` message with the call's ``tool_call_id`` and ``name`` whose ``text`` is the result. A ``tool`` message
    without a ``tool_call_id`` is a plain note to the model."""

    role: Role
    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""
    name: str = ""


@dataclass
class Conversation:
    config: CallConfig
    messages: list[Message] = field(default_factory=list)
    caller_number: str = ""
    local_time: datetime | None = None
    previous_summary: str = ""
    outbound: bool = False  # we called them (``send_dtmf`` is offered: another company's phone menu may answer)
    tools_allowed: bool = True  # False: the model must answer in words (the last round of a reply's tool calls)


@dataclass(frozen=True)
class TextDelta:
    text: str


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


@dataclass(frozen=True)
class WordMark:
    """Where a word's audio starts: ``offset_ms`` from the start of the audio of the ``speak`` call reporting it."""

    text: str
    offset_ms: float


class TextToSpeech(ABC):
    """One instance per call. Cancel a synthesis by closing its iterator (or cancelling the task)."""

    name = "tts"

    async def start(self) -> None:
        """Pre-connect / warm up. Called once at call start."""

    @abstractmethod
    def speak(self, text: str, on_word: Callable[[WordMark], None] | None = None) -> AsyncIterator[bytes]:
        """Synthesize ``text`` as μ-law 8 kHz mono chunks (any size), first chunk as early as possible.

        ``on_word``: a provider that knows word timings calls it once per spoken word (punctuation gets none),
        in order, from the task consuming this iterator, with a ``WordMark`` whose ``offset_ms`` counts from the
        first byte of this call's audio (8 bytes = 1 ms). Each mark comes before the chunk holding the word's
        first byte is yielded (at the latest right before that ``yield``); a provider that cannot promise that in
        every case says so and then delivers a late mark as soon as it has it, never drops one. Providers that do
        not know word timings ignore ``on_word``: callers must cope with getting no marks at all.
        """

    async def close(self) -> None:
        """Release everything. Idempotent."""


@dataclass(frozen=True)
class AnalysisResult:
    """Summary, sentiment and extracted data of a finished call. ``data`` values are raw: the caller validates them
    against the declared field types."""

    summary: str
    sentiment: str
    sentiment_reason: str
    data: dict[str, Any] = field(default_factory=dict)


class Analyzer(ABC):
    """One instance per finished call. Synchronous: it runs in a Celery task, not on a live call's event loop."""

    name = "analyzer"

    @abstractmethod
    def analyze(self, transcript: list[Message]) -> AnalysisResult:
        """Analyse the call's caller and agent turns. Raises ProviderError on failure."""
