"""The tool calls of one reply: the LLM asks, the tools run, the LLM goes on, all in the same spoken turn.

``ToolLoop.pieces`` is the reply's text as speakable pieces, like ``reply.stream_sentences``, over up to
``MAX_ROUNDS`` rounds of tool calls: an LLM round that asks for tools (besides ``end_call`` / ``transfer_call``,
which end the call after the reply has played: ``TOOL_EVENTS``) starts them all at once, each in its own
task; the tool's "say while waiting" line is spoken when none has answered after ``WAIT_LINE_AFTER_S`` (unless the
LLM already said something this round); a failed tool with ``on_failure="line"`` has its failure line spoken, one
with ``"llm"`` hands the error to the model; then the LLM is asked again with the results. The last round offers
no tools (the model must answer in words).

A barge-in cancels the reply (and this generator) but never a tool's request already sent: its task runs on, its
result is recorded (``spoken: false``, ``cancelled_by_barge_in: true``) and told to the model as a note.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from calls.records import LiveCall
from streaming import turns
from streaming.plivo import DTMF_DIGITS
from streaming.providers.base import Conversation, LanguageModel, Message, ToolCall
from streaming.providers.config import ToolSpec
from streaming.reply import ReplyOutcome, TurnTiming, stream_sentences

log = logging.getLogger(__name__)
MAX_ROUNDS = 3  # rounds of tool calls in one reply; the one after them offers no tools
WAIT_LINE_AFTER_S = 1.0
GUARD_S = 1.0  # a tool's task is given up this long after its own timeout (call_tool enforces the timeout)
STORED_RESULT_CHARS = 2000  # of a result, on the turn (the model gets up to calls.tool_http.TOOL_RESULT_CHARS)
MEMORY_TIMEOUT_S = 3.0

# The tools that end the call: a turn-taking event once the reply has played (the speaker dispatches it).
TOOL_EVENTS: dict[str, type[turns.EndCallRequested | turns.TransferRequested]] = {
    "end_call": turns.EndCallRequested,
    "transfer_call": turns.TransferRequested,
}
TERMINAL = frozenset(TOOL_EVENTS)


def tool_event(name: str, arguments: dict[str, Any]) -> turns.Event | None:
    """The turn-taking event of a played ``end_call`` / ``transfer_call`` (None for any other tool)."""
    reason = str(arguments.get("reason", ""))
    if name == "transfer_call":
        destination, summary = str(arguments.get("destination") or ""), str(arguments.get("summary") or "")
        return turns.TransferRequested(reason, destination, summary)
    event_class = TOOL_EVENTS.get(name)
    return event_class(reason) if event_class is not None else None


@dataclass
class ToolRecord:
    """One tool call as the turn stores it (``Turn.tool_calls``) and the live page shows it."""

    id: str
    name: str
    arguments: dict[str, Any]
    status: str = "pending"  # pending | ok | http_error | timeout | refused | error | invalid_arguments
    http_status: int | None = None
    latency_ms: int | None = None
    result: str = ""
    truncated: bool = False
    error: str = ""
    spoken: bool = False  # the reply went on with the result (or its failure line) in the caller's hearing
    cancelled_by_barge_in: bool = False  # the caller interrupted before the result was spoken

    def as_dict(self) -> dict[str, Any]:
        data = {
            "id": self.id,
            "name": self.name,
            "arguments": self.arguments,
            "status": self.status,
            "http_status": self.http_status,
            "latency_ms": self.latency_ms,
            "result": self.result[:STORED_RESULT_CHARS],
            "truncated": self.truncated or len(self.result) > STORED_RESULT_CHARS,
            "error": self.error,
            "spoken": self.spoken,
        }
        if self.cancelled_by_barge_in:
            data["cancelled_by_barge_in"] = True
        return data

    @property
    def failed(self) -> bool:
        return self.status not in ("pending", "ok")


@dataclass
class ToolRun:
    """The tool calls of one reply (an utterance): records, the exchange for the history, late results."""

    held: bool = False  # a prepared reply: no tool runs before the final transcript confirms it
    records: list[ToolRecord] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)  # answered exchanges, for the conversation's history
    late_notes: list[Message] = field(default_factory=list)  # results that came in after a barge-in
    barged_in: bool = False
    recorded_sequence: int | None = None  # the turn they were stored on (late results update it)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    on_change: Callable[[ToolRun, ToolRecord], None] = lambda run, record: None

    def __post_init__(self) -> None:
        if not self.held:
            self.released.set()

    def as_list(self) -> list[dict[str, Any]]:
        return [record.as_dict() for record in self.records]


@dataclass
class ToolLoop:
    """Runs one reply's LLM rounds and tool calls (see the module's docstring)."""

    llm: LanguageModel
    call: LiveCall
    conversation: Conversation
    timing: TurnTiming
    outcome: ReplyOutcome
    run: ToolRun
    dispatch: Callable[[turns.Event], None]
    stall_s: float | None = None
    pause_deadline: Callable[[], None] = lambda: None  # no reply deadline while tools run
    resume_deadline: Callable[[], None] = lambda: None  # the next round must start speaking in time again
    tasks: set[asyncio.Task] = field(default_factory=set)  # every tool task of the call (outlives the reply)

    async def pieces(self) -> AsyncIterator[str]:
        conversation = self.conversation
        try:
            for round_ in range(MAX_ROUNDS + 1):
                conversation.tools_allowed = round_ < MAX_ROUNDS
                said, asked = len(self.outcome.text), len(self.outcome.tools)
                async for piece in stream_sentences(self.llm, conversation, self.timing, self.outcome, self.stall_s):
                    yield piece
                calls = [c for c in self.outcome.tools[asked:] if c.name not in TERMINAL]
                self.outcome.tools[asked:] = [c for c in self.outcome.tools[asked:] if c.name in TERMINAL]
                if not calls or round_ == MAX_ROUNDS:
                    break
                text = self.outcome.text[said:]
                failure_lines: list[str] = []
                async for line in self._run_round(calls, text.strip(), failure_lines):
                    yield line
                terminal = len(self.outcome.tools) > asked
                if terminal or (failure_lines and all(self._said_failure(r) for r in self._round_records(calls))):
                    break  # the caller heard how it went (or the call ends): no other round
                self.outcome.text += " " if self.outcome.text and not self.outcome.text.endswith(" ") else ""
            for record in self.run.records:
                record.spoken = record.status != "pending"
        except asyncio.CancelledError:
            for record in self.run.records:
                if not record.spoken and self.run.barged_in:
                    record.cancelled_by_barge_in = True
            raise

    def _round_records(self, calls: list[ToolCall]) -> list[ToolRecord]:
        ids = {c.id for c in calls}
        return [r for r in self.run.records if r.id in ids]

    def _said_failure(self, record: ToolRecord) -> bool:
        spec = self.conversation.config.tool(record.name)
        return record.failed and spec is not None and spec.on_failure == "line" and bool(spec.failure_line)

    async def _run_round(self, calls: list[ToolCall], said: str, failure_lines: list[str]) -> AsyncIterator[str]:
        """Start the round's calls, speak the wait line if they are slow, collect the results into the
        conversation; yields the lines to speak (wait line, failure lines)."""
        await self.run.released.wait()
        calls = [c if c.id else ToolCall(f"call_{uuid.uuid4().hex[:12]}", c.name, c.arguments) for c in calls]
        self.pause_deadline()
        records = [ToolRecord(c.id, c.name, dict(c.arguments)) for c in calls]
        self.run.records += records
        started = {record.id: self._start(call, record) for call, record in zip(calls, records, strict=True)}
        pending = {task for task in started.values() if not task.done()}
        if pending:
            _, pending = await asyncio.wait(pending, timeout=WAIT_LINE_AFTER_S)
        if pending and not said:
            waiting = [r for r, t in zip(records, started.values(), strict=True) if t in pending]
            if line := next((s.wait_line for r in waiting if (s := self._spec(r)) and s.wait_line), ""):
                yield line
        if pending:
            await asyncio.wait(pending)  # never cancels them: a barge-in leaves their requests running
        answers = []
        for record in records:
            spec = self._spec(record)
            told = ""
            if self._said_failure(record) and spec is not None:
                told = spec.failure_line
                if told not in failure_lines:
                    failure_lines.append(told)
                    yield told
            answers.append(Message("tool", model_content(record, told), tool_call_id=record.id, name=record.name))
        exchange = [Message("agent", said, tool_calls=tuple(calls)), *answers]
        self.conversation.messages += exchange
        self.run.messages += exchange
        self.resume_deadline()

    def _spec(self, record: ToolRecord) -> ToolSpec | None:
        return self.conversation.config.tool(record.name)

    def _start(self, call: ToolCall, record: ToolRecord) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(self._execute(call, record))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        self.run.on_change(self.run, record)
        return task

    async def _execute(self, call: ToolCall, record: ToolRecord) -> None:
        """Run one call to its end and record it; never raises (but CancelledError, when the stream ends)."""
        try:
            await self._dispatch_call(call, record)
        except asyncio.CancelledError:
            record.status, record.error = "error", "the call ended before the tool answered"
            raise
        except Exception as exc:
            log.exception("Call %s: tool %s failed", self.call.call_uuid, call.name)
            record.status, record.error = "error", f"internal error ({type(exc).__name__})"
        finally:
            if record.status == "pending":
                record.status = "error"
            if self.run.barged_in and not record.spoken:
                record.cancelled_by_barge_in = True
                self.run.late_notes.append(Message("tool", late_note(record)))
            self.run.on_change(self.run, record)

    async def _dispatch_call(self, call: ToolCall, record: ToolRecord) -> None:
        name, arguments = call.name, call.arguments
        if name == "send_dtmf":
            digits = str(arguments.get("digits", "")).strip().upper()
            if not digits or len(digits) > 32 or any(d not in DTMF_DIGITS for d in digits):
                record.status, record.error = "invalid_arguments", "digits must be 1-32 of 0-9 * # A-D"
                return
            self.dispatch(turns.SendDtmfRequested(digits))
            record.status, record.result = "ok", json.dumps({"sent": digits})
        elif name in ("remember", "recall") and self.conversation.config.memory_enabled:
            await self._memory(name, arguments, record)
        elif (spec := self.conversation.config.tool(name)) is not None:
            await self._http(spec, call, record)
        else:
            record.status, record.error = "error", f"there is no tool named {name!r}"

    async def _memory(self, name: str, arguments: dict[str, Any], record: ToolRecord) -> None:
        from calls import memory  # the engine's view of the caller's memory (calls.memory)

        agent_id, number = self.conversation.config.agent_id, self.call.caller_number
        async with asyncio.timeout(MEMORY_TIMEOUT_S):
            if name == "remember":
                note = str(arguments.get("note", "")).strip()
                if not note:
                    record.status, record.error = "invalid_arguments", "an empty note"
                    return
                await memory.remember(agent_id, number, note, self.call.call_uuid)
                record.status, record.result = "ok", json.dumps({"remembered": note})
            else:
                notes = await memory.recall(agent_id, number)
                record.status, record.result = "ok", json.dumps({"notes": notes})

    async def _http(self, spec: ToolSpec, call: ToolCall, record: ToolRecord) -> None:
        from calls import tool_http

        if problem := argument_problem(spec, call.arguments):
            record.status, record.error = "invalid_arguments", problem
            return
        async with asyncio.timeout(spec.timeout_seconds + GUARD_S):
            result = await tool_http.call_tool(
                spec.id,
                call.arguments,
                call_uuid=self.call.call_uuid,
                tool_call_id=call.id,
                timeout=spec.timeout_seconds,
            )
        record.status, record.http_status, record.latency_ms = result.status, result.http_status, result.latency_ms
        record.result, record.truncated, record.error = result.body, result.truncated, result.error


def argument_problem(spec: ToolSpec, arguments: dict[str, Any]) -> str:
    """Why ``arguments`` do not fit the tool's JSON schema ("" when they do, or the schema cannot say)."""
    from jsonschema import exceptions, validators

    with contextlib.suppress(exceptions.SchemaError, TypeError, ValueError):
        schema = dict(spec.parameters)
        validator = validators.validator_for(schema)(schema)
        error = next(iter(validator.iter_errors(arguments)), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path)
            return f"invalid arguments{f' at {where}' if where else ''}: {error.message}"[:300]
    return ""


def model_content(record: ToolRecord, told: str = "") -> str:
    """What the model reads as the tool's answer: the response body when it worked, else what went wrong."""
    if not record.failed:
        return record.result + ("\n[the response was cut here]" if record.truncated else "")
    error: dict[str, Any] = {"error": record.error or record.status, "status": record.status}
    if record.http_status is not None:
        error["http_status"] = record.http_status
    if record.result and record.status == "http_error":
        error["body"] = record.result[:500]
    if told:
        error["caller_was_told"] = told
    return json.dumps(error, ensure_ascii=False)


def late_note(record: ToolRecord) -> str:
    """What the model learns of a result that came in after the caller interrupted the reply."""
    outcome = record.result[:500] if not record.failed else f"failed ({record.error or record.status})"
    return f"{record.name} finished after the caller interrupted; the caller was not told: {outcome}"
