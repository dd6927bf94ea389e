"""One call's configuration: a frozen view of the agent snapshot stored on the call.

The runner, the turn-taking machine and every provider read their settings from a ``CallConfig``. It has no
defaults of its own: the defaults live in one place, the ``Agent`` model's fields, and the snapshot a call is
started with carries every field (``calls.config.call_config`` completes old or partial snapshots from them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


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


class IncompleteSnapshot(ValueError):
    """The snapshot lacks fields the call needs (it was not completed from the agent's defaults)."""


@dataclass(frozen=True)
class CallConfig:
    """Everything a live call and its providers need to know about the agent."""

    # who
    name: str
    version: int
    system_prompt: str
    # fixed lines
    greeting: str
    goodbye_message: str
    reprompt_text: str
    fallback_line: str
    transfer_line: str
    # voice and language
    language: str
    voice: str
    speaking_rate: float
    # providers
    stt_provider: str
    llm_provider: str
    tts_provider: str
    llm_model: str
    temperature: float
    max_tokens: int
    # turn-taking
    end_of_speech_ms: int
    barge_in_enabled: bool
    interruption_mode: str  # resume | words
    barge_in_min_speech_ms: int
    preemptive_reply: bool
    silence_timeout_seconds: float
    max_reprompts: int
    max_call_seconds: int
    end_call_phrases: tuple[str, ...]
    # actions and after the call
    transfer_number: str
    record_calls: bool
    summary_instructions: str
    faq: tuple[FaqEntry, ...]
    extraction_fields: tuple[ExtractionField, ...]

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, Any]) -> CallConfig:
        """Parse a complete agent snapshot; unknown keys are ignored, a missing key is an error."""
        missing = sorted(f.name for f in dataclasses.fields(cls) if f.name not in snapshot)
        if missing:
            raise IncompleteSnapshot(f"agent snapshot lacks {', '.join(missing)}")
        return cls(
            name=str(snapshot["name"]),
            version=int(snapshot["version"]),
            system_prompt=str(snapshot["system_prompt"]),
            greeting=str(snapshot["greeting"]),
            goodbye_message=str(snapshot["goodbye_message"]),
            reprompt_text=str(snapshot["reprompt_text"]),
            fallback_line=str(snapshot["fallback_line"]),
            transfer_line=str(snapshot["transfer_line"]),
            language=str(snapshot["language"]),
            voice=str(snapshot["voice"]),
            speaking_rate=float(snapshot["speaking_rate"]),
            stt_provider=str(snapshot["stt_provider"]),
            llm_provider=str(snapshot["llm_provider"]),
            tts_provider=str(snapshot["tts_provider"]),
            llm_model=str(snapshot["llm_model"]),
            temperature=float(snapshot["temperature"]),
            max_tokens=int(snapshot["max_tokens"]),
            end_of_speech_ms=int(snapshot["end_of_speech_ms"]),
            barge_in_enabled=bool(snapshot["barge_in_enabled"]),
            interruption_mode=str(snapshot["interruption_mode"]),
            barge_in_min_speech_ms=int(snapshot["barge_in_min_speech_ms"]),
            preemptive_reply=bool(snapshot["preemptive_reply"]),
            silence_timeout_seconds=float(snapshot["silence_timeout_seconds"]),
            max_reprompts=int(snapshot["max_reprompts"]),
            max_call_seconds=int(snapshot["max_call_seconds"]),
            end_call_phrases=tuple(str(p).lower() for p in snapshot["end_call_phrases"]),
            transfer_number=str(snapshot["transfer_number"]),
            record_calls=bool(snapshot["record_calls"]),
            summary_instructions=str(snapshot["summary_instructions"]),
            faq=tuple(
                FaqEntry(tuple(e.get("keywords", ())), e.get("question", ""), e.get("answer", ""))
                for e in snapshot["faq"]
            ),
            extraction_fields=tuple(
                ExtractionField(f["name"], f.get("type", "string"), f.get("description", ""))
                for f in snapshot["extraction_fields"]
            ),
        )

    def replace(self, **changes: Any) -> CallConfig:
        return dataclasses.replace(self, **changes)
