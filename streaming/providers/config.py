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
    tool: str = ""  # offline responder: the tool this entry calls (its name), "" to answer
    tool_pattern: str = ""  # regex on the caller's words; its named groups are the tool's arguments


@dataclass(frozen=True)
class ToolSpec:
    """One of the agent's HTTP tools as the call sees it (no URL, headers or secret: those are read by ``id``)."""

    id: int
    name: str
    description: str
    parameters: Mapping[str, Any]
    timeout_seconds: float
    wait_line: str = ""
    on_failure: str = "line"  # line | llm
    failure_line: str = ""


@dataclass(frozen=True)
class TransferDestination:
    name: str
    destination: str  # E.164 number or SIP URI
    description: str = ""
    warm: bool = True


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
    # tools and memory
    tools: tuple[ToolSpec, ...]
    transfer_destinations: tuple[TransferDestination, ...]
    memory_enabled: bool
    memory: tuple[str, ...] = ()  # what the agent remembers of the caller (the answer webhook's "memory" key)
    agent_id: int = 0  # the agent's id in the snapshot ("id"): whose notes ``remember`` / ``recall`` keep
    # outbound calls a machine answers
    voicemail_action: str = "message"  # message | hangup
    voicemail_message: str = ""

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, Any]) -> CallConfig:
        """Parse a complete agent snapshot; unknown keys are ignored, a missing key is an error."""
        missing = sorted(f.name for f in dataclasses.fields(cls) if f.name not in snapshot and f.name not in OPTIONAL)
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
            faq=tuple(_faq_entry(e) for e in snapshot["faq"]),
            extraction_fields=tuple(
                ExtractionField(f["name"], f.get("type", "string"), f.get("description", ""))
                for f in snapshot["extraction_fields"]
            ),
            tools=tuple(_tool(t) for t in snapshot["tools"] or ()),
            transfer_destinations=tuple(
                TransferDestination(
                    str(d["name"]), str(d.get("destination", "")), str(d.get("description", "")), bool(d.get("warm"))
                )
                for d in snapshot["transfer_destinations"] or ()
            ),
            memory_enabled=bool(snapshot["memory_enabled"]),
            memory=tuple(str(line) for line in snapshot.get("memory") or () if str(line).strip()),
            agent_id=int(snapshot.get("agent_id") or snapshot.get("id") or 0),
            voicemail_action=str(snapshot.get("voicemail_action") or "message"),
            voicemail_message=str(snapshot.get("voicemail_message") or ""),
        )

    def replace(self, **changes: Any) -> CallConfig:
        return dataclasses.replace(self, **changes)

    def tool(self, name: str) -> ToolSpec | None:
        return next((t for t in self.tools if t.name == name), None)


OPTIONAL = frozenset({"memory", "agent_id"})  # not agent fields: a snapshot without them is complete


def _faq_entry(entry: Mapping[str, Any]) -> FaqEntry:
    return FaqEntry(
        tuple(entry.get("keywords", ())),
        entry.get("question", ""),
        entry.get("answer", ""),
        str(entry.get("tool") or ""),
        str(entry.get("tool_pattern") or ""),
    )


def _tool(tool: Mapping[str, Any]) -> ToolSpec:
    parameters = tool.get("parameters")
    return ToolSpec(
        id=int(tool["id"]),
        name=str(tool["name"]),
        description=str(tool.get("description", "")),
        parameters=parameters if isinstance(parameters, dict) and parameters else {"type": "object", "properties": {}},
        timeout_seconds=float(tool.get("timeout_seconds") or 5.0),
        wait_line=str(tool.get("wait_line") or ""),
        on_failure=str(tool.get("on_failure") or "line"),
        failure_line=str(tool.get("failure_line") or ""),
    )
