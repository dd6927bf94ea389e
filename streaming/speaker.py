"""The agent's side of a live call: fixed lines and LLM replies → utterances for the player, and their turns.

Each utterance runs in its own task: produce audio (speech cache, or LLM sentences → TTS as they stream), wait
until Plivo has played it, record the agent turn with what the caller heard, then tell the turn-taking machine.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone

from calls.records import LiveCall
from streaming import turns
from streaming.deadline import Deadline
from streaming.journal import Journal
from streaming.line_timing import LineTiming
from streaming.playback import Player, Utterance
from streaming.providers.base import Conversation, LanguageModel, Message, ProviderError, TextToSpeech
from streaming.reply import ReplyOutcome, TurnTiming, provider_deadline, speech_cache
from streaming.synthesis import Synthesizer
from streaming.tool_loop import TOOL_EVENTS, ToolLoop, ToolRecord, ToolRun, tool_event

log = logging.getLogger(__name__)
__all__ = ["TOOL_EVENTS", "Deadline", "Speaker"]
FailureHandler = Callable[[ProviderError, bool], None]
Timing = TurnTiming | LineTiming  # a reply's, or a fixed line's: stored as the turn's latency


@dataclass
class Prepared:
    """A reply started before the final transcript, held until the final confirms (or refutes) it."""

    utterance: Utterance
    timing: TurnTiming
    failed: bool = False


class Speaker:
    def __init__(
        self,
        call: LiveCall,
        player: Player,
        llm: LanguageModel,
        tts: TextToSpeech,
        journal: Journal,
        dispatch: Callable[[turns.Event], None],
        on_failure: FailureHandler,
        *,
        started_at: float,
    ) -> None:
        self.call = call
        self.config = call.config
        self.player = player
        self.llm = llm
        self.tts = tts
        self.journal = journal
        self.history: list[Message] = [Message(role, text) for role, text in call.history]  # type: ignore[arg-type]
        self._dispatch = dispatch
        self._on_failure = on_failure
        self._started_at = started_at
        self._speaking: dict[Utterance, asyncio.Task] = {}
        self.synthesizer = Synthesizer(tts, player, settings.TTS_STALL_MS / 1000)
        self._prepared: Prepared | None = None
        self.preemptive = {"hits": 0, "misses": 0}
        self._tool_runs: dict[Utterance, ToolRun] = {}
        self.tool_tasks: set[asyncio.Task] = set()  # tools' requests: a barge-in does not cancel them
        self._timings: dict[Utterance, Timing] = {}  # until the turn is stored (played, interrupted, cut off)

    # ---- what the runner asks for ----
    def say(self, text: str, purpose: str) -> None:
        """Speak a fixed line (greeting, reprompt, fallback, goodbye, transfer)."""
        utterance = self.player.begin(purpose, self.journal.next_sequence())
        timing = LineTiming(purpose, time.monotonic())
        self._start(utterance, self._say(utterance, text, timing), timing, None)

    def reply(self, timing: TurnTiming) -> None:
        """Ask the LLM for the next reply and speak it sentence by sentence as it streams."""
        self._reply(timing, self.conversation(), held=False)

    def prepare(self, text: str, timing: TurnTiming) -> None:
        """Start the reply to ``text`` (the caller's latest partial) but hold its audio until ``release``."""
        self.discard()
        conversation = self.conversation()
        conversation.messages.append(Message("caller", text))
        self._prepared = Prepared(self._reply(timing, conversation, held=True), timing)

    def release(self) -> bool:
        """The final transcript confirmed the prepared reply: send it as this turn's reply. False when there is
        none to send (it failed, or was never prepared): the caller asks for a fresh reply instead."""
        prepared, self._prepared = self._prepared, None
        if prepared is None or prepared.failed or prepared.utterance.cancelled:
            if prepared is not None:
                self._drop(prepared)
            return False
        self.preemptive["hits"] += 1
        utterance = prepared.utterance
        utterance.sequence = self.journal.next_sequence()
        if run := self._tool_runs.get(utterance):
            run.released.set()  # its tools may run now: the caller did say these words
        prepared.timing.stt_final = time.monotonic()
        self.player.resume([utterance])
        if utterance.pushed_bytes:  # its audio started while held: the machine learns it now
            asyncio.get_running_loop().call_soon(self._dispatch, turns.ReplyAudioStarted())
        return True

    def discard(self) -> None:
        """Drop the prepared reply (nothing of it was sent); it counts as a miss."""
        prepared, self._prepared = self._prepared, None
        if prepared is not None:
            self._drop(prepared)

    def _drop(self, prepared: Prepared) -> None:
        self.preemptive["misses"] += 1
        self._timings.pop(prepared.utterance, None)
        task = self._speaking.pop(prepared.utterance, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self.player.discard(prepared.utterance)

    def _reply(self, timing: TurnTiming, conversation: Conversation, held: bool) -> Utterance:
        utterance = self.player.begin("reply", 0 if held else self.journal.next_sequence(), held=held)
        outcome = ReplyOutcome()
        utterance.planned = lambda: outcome.text
        run = ToolRun(held=held, on_change=lambda run, record: self._tool_changed(utterance, run, record))
        self._tool_runs[utterance] = run
        producer = self._produce_reply(utterance, timing, outcome, conversation, run)
        self._start(utterance, producer, timing, outcome)
        return utterance

    def pause(self, reaction_ms: float | None) -> bool:
        """The caller's voice over the agent: stop sending, keep the rest. Returns whether audio was cut."""
        paused = self.player.pause()
        for utterance in paused:
            data = {"reaction_ms": reaction_ms, "sequence": utterance.sequence, "heard_bytes": utterance.sent_bytes}
            self.journal.event("pause", data)
        return any(u.pauses for u in paused)

    def resume(self) -> None:
        """It was only a backchannel or noise: go on from the first word the caller did not hear."""
        prepared = self._prepared.utterance if self._prepared else None
        held = [u for u in self.player.active if u.held and u is not prepared]
        for utterance in self.player.resume(held):
            utterance.resumed = True
            self.journal.event("resume", {"sequence": utterance.sequence, "from_byte": utterance.resume_from})

    def interrupt(self, reaction_ms: float | None) -> bool:
        """Barge-in: cut what is queued or playing, record what the caller heard, cancel the producers.

        Returns whether any utterance was cut."""
        for run in self._tool_runs.values():
            run.barged_in = True  # its tools' requests go on; their results are not spoken
        cut = self.player.interrupt()
        for utterance, heard in cut:
            self._record_agent_turn(utterance, heard, True, None, None)
            if utterance.sent_bytes:
                data = {"reaction_ms": reaction_ms, "heard_text": heard, "sequence": utterance.sequence}
                self.journal.event("barge-in", data, shown={"heard_text": heard})
        current = asyncio.current_task()
        for utterance, task in list(self._speaking.items()):
            if task is not current:
                task.cancel()
            self._speaking.pop(utterance, None)
        return bool(cut)

    def stream_closed(self) -> None:
        """The stream ended mid-utterance (the caller hung up): store the part of it they heard, as interrupted."""
        self.discard()
        for utterance, heard in self.player.interrupt(clear=False):
            self._record_agent_turn(utterance, heard, True, None, None)

    def cancel_all(self) -> list[asyncio.Task]:
        """Cancel every utterance task but the current one; returns them to be awaited."""
        current = asyncio.current_task()
        tasks = [task for task in (*self._speaking.values(), *self.tool_tasks) if task is not current]
        for task in tasks:
            task.cancel()
        return tasks

    def conversation(self) -> Conversation:
        call = self.call
        return Conversation(
            self.config,
            list(self.history),
            call.caller_number,
            timezone.localtime(),
            call.previous_summary,
            outbound=call.outbound,
        )

    # ---- fixed lines and the speech cache ----
    def warm_fixed_lines(self, spawn: Callable[[Coroutine[Any, Any, Any]], object]) -> None:
        """Have the lines that must come out fast (fallback, goodbye) ready before they are needed: from the shared
        store (the agent's lines are prepared when it is saved and when a call is answered), else synthesized."""
        for text in (self.config.fallback_line, self.config.goodbye_message):
            if text and speech_cache.get(self._line_key(text)) is None:
                spawn(self._warm_line(text))

    async def _warm_line(self, text: str) -> None:
        if await speech_cache.fetch(self._line_key(text)) is None:
            await self._synthesize_line(text)

    def _line_key(self, text: str) -> tuple:
        return speech_cache.line_key(self.tts, self.config, text)

    async def _say(self, utterance: Utterance, text: str, timing: LineTiming) -> None:
        cached = await speech_cache.fetch(self._line_key(text))
        timing.cached = cached is not None
        if cached is None:
            await self._synthesize_line(text, utterance, timing)
            return
        timing.audio_ready = time.monotonic()
        self.player.add_text(utterance, text)
        self.player.add_audio(utterance, cached)
        self._dispatch(turns.ReplyAudioStarted())

    async def _synthesize_line(
        self, text: str, utterance: Utterance | None = None, timing: LineTiming | None = None
    ) -> None:
        """The one path that fills the speech cache: synthesize ``text`` (into ``utterance`` as it streams, if
        given) and keep the audio, unless the utterance was cut before it was complete."""
        if utterance is None:
            audio = b"".join([chunk async for chunk in self.tts.speak(text)])
        else:
            started = LineTiming.wrap(timing, lambda: self._dispatch(turns.ReplyAudioStarted()))
            audio = await self.synthesizer.speak(utterance, text, started)
        if utterance is None or not utterance.cancelled:
            await speech_cache.publish(self._line_key(text), audio)

    # ---- producing audio ----
    async def _produce_reply(
        self,
        utterance: Utterance,
        timing: TurnTiming,
        outcome: ReplyOutcome,
        conversation: Conversation,
        run: ToolRun,
    ) -> None:
        """LLM pieces → TTS (with look-ahead), through the reply's tool calls (``ToolLoop``). No audio
        ``REPLY_DEADLINE_MS`` after the caller stopped talking fails the reply (the caller hears the fallback line
        instead of silence), not counting the time tools take; an LLM that stalls later ends it where it stopped."""
        deadline = Deadline.for_reply(timing, settings.REPLY_DEADLINE_MS / 1000)
        loop = asyncio.get_running_loop()

        def resume_deadline() -> None:
            if not utterance.pushed_bytes:
                deadline.scope.reschedule(loop.time() + settings.REPLY_DEADLINE_MS / 1000)

        late = f"no reply audio within {settings.REPLY_DEADLINE_MS} ms of the caller's end of speech"

        def first_audio() -> None:
            timing.tts_first_audio = time.monotonic()
            deadline.cancel()
            self._dispatch(turns.ReplyAudioStarted())

        tools = ToolLoop(
            self.llm,
            self.call,
            conversation,
            timing,
            outcome,
            run,
            self._dispatch,
            settings.LLM_STALL_MS / 1000,
            pause_deadline=deadline.cancel,
            resume_deadline=resume_deadline,
            tasks=self.tool_tasks,
        )
        async with provider_deadline(deadline.scope, late, self.llm.name):
            await self.synthesizer.speak_all(utterance, tools.pieces(), first_audio)

    # ---- one utterance, start to end ----
    def _start(
        self,
        utterance: Utterance,
        producer: Coroutine[Any, Any, None],
        timing: Timing | None,
        outcome: ReplyOutcome | None,
    ) -> None:
        if timing is not None:
            self._timings[utterance] = timing
        task = asyncio.get_running_loop().create_task(self._utterance(utterance, producer, timing, outcome))
        self._speaking[utterance] = task
        task.add_done_callback(lambda _: self._speaking.pop(utterance, None))

    async def _utterance(
        self,
        utterance: Utterance,
        producer: Coroutine[Any, Any, None],
        timing: Timing | None,
        outcome: ReplyOutcome | None,
    ) -> None:
        failed = None
        try:
            await producer
        except ProviderError as exc:
            failed = exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("Call %s: speaking failed", self.call.call_uuid)
            failed = ProviderError(str(exc), provider="engine")
        finally:
            self.player.finish(utterance)
        if failed is not None:
            prepared = self._prepared
            if prepared is not None and prepared.utterance is utterance and utterance.queued_bytes == 0:
                self._on_failure(failed, False)  # stored; the confirmed turn asks again (see release)
                prepared.failed = True
                return
            self._failed_utterance(utterance, failed)
            if utterance.queued_bytes == 0:
                return
        await self.player.wait_played(utterance)
        if utterance.cancelled:
            return
        self._played(utterance, timing, outcome)

    def _played(self, utterance: Utterance, timing: Timing | None, outcome: ReplyOutcome | None) -> None:
        if utterance.purpose == "greeting" and utterance.first_sent_at is not None:
            self.journal.metrics({"greeting_ms": round((utterance.first_sent_at - self._started_at) * 1000, 1)})
        self._record_agent_turn(utterance, utterance.text, False, timing, outcome)
        for tool in outcome.tools if outcome else ():
            self.journal.event("tool", {"name": tool.name, "arguments": tool.arguments})
            if event := tool_event(tool.name, tool.arguments):
                self._dispatch(event)
        self._dispatch(turns.PlaybackDone(utterance.purpose))

    def _failed_utterance(self, utterance: Utterance, exc: ProviderError) -> None:
        """Nothing was said: speak the fallback line (or, for the goodbye itself, go on ending)."""
        self._on_failure(exc, False)
        if utterance.queued_bytes:
            return
        if utterance.purpose in ("goodbye", "transfer", "voicemail"):
            self._dispatch(turns.PlaybackDone(utterance.purpose))
        elif utterance.purpose != "fallback":
            self._dispatch(turns.ReplyFailed(str(exc)))

    def _record_agent_turn(
        self,
        utterance: Utterance,
        heard: str,
        interrupted: bool,
        timing: Timing | None,
        outcome: ReplyOutcome | None,
    ) -> None:
        timing = self._timings.pop(utterance, None) or timing  # an interrupted turn measured what it reached
        text = utterance.text
        run = self._tool_runs.pop(utterance, None)
        tool_calls = run.as_list() if run is not None and run.records else []
        if not text and not tool_calls:
            return
        if run is not None:
            run.recorded_sequence = utterance.sequence
            self.history += run.messages  # the tool exchange, before what the caller heard
        latency: dict[str, Any] = {}
        if timing is not None:
            timing.first_frame_sent = utterance.first_sent_at
            latency = timing.as_latency()
        usage = (
            {"prompt_tokens": outcome.usage.prompt_tokens, "completion_tokens": outcome.usage.completion_tokens}
            if outcome and outcome.usage
            else {}
        )
        self.history.append(Message("agent", heard))
        self.journal.turn(
            utterance.sequence,
            "agent",
            text,
            start_ms=self._stream_ms(utterance.play_start),
            end_ms=self._stream_ms(utterance.play_end),
            interrupted=interrupted,
            heard_text=heard,
            latency=latency,
            usage=usage,
            **({"resumed": True} if utterance.resumed else {}),
            **({"tool_calls": tool_calls} if tool_calls else {}),
        )

    def _tool_changed(self, utterance: Utterance, run: ToolRun, record: ToolRecord) -> None:
        """A tool call started or finished: the live page hears of it; once the turn is stored, the turn is
        updated (a result that came in after a barge-in) and the model learns of it with the next reply."""
        self.history += run.late_notes
        run.late_notes.clear()
        if run.recorded_sequence is not None:
            self.journal.tool_calls(run.recorded_sequence, run.as_list())
        elif utterance.sequence:
            self.journal.tool_progress(utterance.sequence, record.as_dict())

    def _stream_ms(self, at: float | None) -> int | None:
        return None if at is None else max(0, round((at - self._started_at) * 1000))
