"""How the call runner carries out the session's actions (speak, reply, interrupt, record, hang up, transfer)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from calls import live, plivo_api, records
from streaming import session as s
from streaming.playback import Utterance
from streaming.providers.base import Message, ProviderError
from streaming.reply import ReplyOutcome, TurnTiming, speech_cache

if TYPE_CHECKING:
    from streaming.pipeline import CallRunner

log = logging.getLogger(__name__)
TOOL_EVENTS = {"end_call": s.EndCallRequested, "transfer_call": s.TransferRequested}


class ActionsMixin:
    def dispatch(self: CallRunner, event: s.Event) -> None:
        self.dispatch_all(self.session.handle(event))

    def dispatch_all(self: CallRunner, actions: list[s.Action]) -> None:
        for action in actions:
            handler = getattr(self, f"do_{type(action).__name__}")
            handler(action)

    # ---- speaking ----
    def do_Say(self: CallRunner, action: s.Say) -> None:
        utterance = self.player.begin(action.purpose, self.next_sequence())
        self._speak(utterance, self._say(utterance, action.text), None, None)

    async def _say(self: CallRunner, utterance: Utterance, text: str) -> None:
        key = self.fixed_line_key(text)
        cached = speech_cache.get(key)
        if cached is not None:
            self.player.add_text(utterance, text)
            self.player.add_audio(utterance, cached)
            self.dispatch(s.ReplyAudioStarted())
            return
        audio = await self.speak_text(utterance, text)
        if not utterance.cancelled:
            speech_cache.put(key, audio)

    def do_Reply(self: CallRunner, action: s.Reply) -> None:
        utterance = self.player.begin("reply", self.next_sequence())
        timing = TurnTiming(speech_end=self.last_voice_at, stt_final=self.final_at)
        outcome = ReplyOutcome()
        utterance.planned = lambda: outcome.text
        self._speak(utterance, self.produce_reply(utterance, timing, outcome), timing, outcome)

    def _speak(
        self: CallRunner, utterance: Utterance, producer, timing: TurnTiming | None, outcome: ReplyOutcome | None
    ) -> None:
        task = asyncio.get_running_loop().create_task(self._utterance(utterance, producer, timing, outcome))
        self.speaking[utterance] = task
        task.add_done_callback(lambda _: self.speaking.pop(utterance, None))

    async def _utterance(
        self: CallRunner, utterance: Utterance, producer, timing: TurnTiming | None, outcome: ReplyOutcome | None
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
            self._failed_utterance(utterance, failed)
            if utterance.queued_bytes == 0:
                return
        await self.player.wait_played(utterance)
        if utterance.cancelled:
            return
        if utterance.purpose == "greeting" and utterance.first_sent_at is not None:
            self.side(
                records.merge_metrics(
                    self.call.id, {"greeting_ms": round((utterance.first_sent_at - self.started_at) * 1000, 1)}
                )
            )
        self._record_agent_turn(utterance, utterance.text, False, timing, outcome)
        for tool in outcome.tools if outcome else ():
            self.side(records.add_event(self.call.id, "tool", {"name": tool.name, "arguments": tool.arguments}))
            if event_class := TOOL_EVENTS.get(tool.name):
                self.dispatch(event_class(str(tool.arguments.get("reason", ""))))
        self.dispatch(s.PlaybackDone(utterance.purpose))

    def _failed_utterance(self: CallRunner, utterance: Utterance, exc: ProviderError) -> None:
        """Nothing was said: speak the fallback line (or, for the goodbye itself, go on ending)."""
        self.provider_failed(exc, fallback=False)
        if utterance.queued_bytes:
            return
        if utterance.purpose in ("goodbye", "transfer"):
            self.dispatch(s.PlaybackDone(utterance.purpose))
        elif utterance.purpose != "fallback":
            self.dispatch(s.ReplyFailed(str(exc)))

    def _record_agent_turn(
        self: CallRunner,
        utterance: Utterance,
        heard: str,
        interrupted: bool,
        timing: TurnTiming | None,
        outcome: ReplyOutcome | None,
    ) -> None:
        text = utterance.text
        if not text:
            return
        latency = {}
        if timing is not None:
            timing.first_frame_sent = utterance.first_sent_at
            latency = timing.as_latency()
        usage = (
            {"prompt_tokens": outcome.usage.prompt_tokens, "completion_tokens": outcome.usage.completion_tokens}
            if outcome and outcome.usage
            else {}
        )
        start_ms, end_ms = self.stream_ms(utterance.play_start), self.stream_ms(utterance.play_end)
        self.history.append(Message("agent", heard))
        self._save_turn(
            utterance.sequence,
            "agent",
            text,
            start_ms=start_ms,
            end_ms=end_ms,
            interrupted=interrupted,
            heard_text=heard,
            latency=latency,
            usage=usage,
        )

    def _save_turn(self: CallRunner, sequence: int, role: str, text: str, **fields) -> None:
        self.side(records.save_turn(self.call.id, sequence, role, text, **fields))
        self.side(
            live.publish(
                self.call.call_uuid,
                "turn",
                {"sequence": sequence, "role": role, "text": text, **{k: v for k, v in fields.items() if k != "usage"}},
            )
        )

    # ---- the caller ----
    def do_RecordCallerTurn(self: CallRunner, action: s.RecordCallerTurn) -> None:
        self.final_at = time.monotonic()
        self.history.append(Message("caller", action.text))
        if not action.store:
            return
        end_ms = self.speech_end_ms if self.speech_end_ms >= self.speech_onset_ms else self.caller_ms
        self._save_turn(self.next_sequence(), "caller", action.text, start_ms=self.speech_onset_ms, end_ms=end_ms)

    def do_Interrupt(self: CallRunner, action: s.Interrupt) -> None:
        reaction = None
        if self.speech_started_at is not None:
            reaction = round((time.monotonic() - self.speech_started_at) * 1000, 1)
        current = asyncio.current_task()
        for utterance, heard in self.player.interrupt():
            if self.recorder:
                self.recorder.drop_agent_after(time.monotonic())
            self._record_agent_turn(utterance, heard, True, None, None)
            if utterance.sent_bytes:
                self.side(
                    records.add_event(
                        self.call.id,
                        "barge-in",
                        {"reaction_ms": reaction, "heard_text": heard, "sequence": utterance.sequence},
                    )
                )
                self.side(live.publish(self.call.call_uuid, "barge-in", {"heard_text": heard}))
        for utterance, task in list(self.speaking.items()):
            if task is not current:
                task.cancel()
            self.speaking.pop(utterance, None)

    def do_StartSilenceTimer(self: CallRunner, action: s.StartSilenceTimer) -> None:
        self.do_StopSilenceTimer(s.StopSilenceTimer())
        self.silence_timer = self._task(self._silence_after(action.seconds), self.tasks)

    async def _silence_after(self: CallRunner, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.silence_timer = None
        self.dispatch(s.SilenceTimeout())

    def do_StopSilenceTimer(self: CallRunner, action: s.StopSilenceTimer) -> None:
        if self.silence_timer is not None and self.silence_timer is not asyncio.current_task():
            self.silence_timer.cancel()
        self.silence_timer = None

    async def _end_after_max(self: CallRunner) -> None:
        await asyncio.sleep(float(self.call.snapshot.get("max_call_seconds", 900)))
        self.dispatch(s.MaxDuration())

    # ---- ending ----
    def do_HangUp(self: CallRunner, action: s.HangUp) -> None:
        self.side(self._hang_up(action.reason))

    async def _hang_up(self: CallRunner, reason: str) -> None:
        result = "stream-closed"
        if plivo_api.configured():
            try:
                result = await asyncio.to_thread(plivo_api.hangup_call, self.call.call_uuid)
            except plivo_api.PlivoApiError as exc:
                result = f"failed: {exc}"
        await records.add_event(self.call.id, "hangup", {"reason": reason, "result": result})
        await self._close_socket()

    def do_Transfer(self: CallRunner, action: s.Transfer) -> None:
        self.side(self._transfer())

    async def _transfer(self: CallRunner) -> None:
        number = self.spec.transfer_number
        status = "no-number" if not number else "no-credentials"
        if number and plivo_api.configured():
            url = f"{self.site_url}/plivo/transfer/"
            try:
                status = await asyncio.to_thread(plivo_api.transfer_call, self.call.call_uuid, url)
            except plivo_api.PlivoApiError as exc:
                status = f"failed: {exc}"
        await records.add_event(self.call.id, "transfer", {"number": number, "status": status})
        if status != "transferred":
            await self._close_socket()

    def do_Close(self: CallRunner, action: s.Close) -> None:
        """Handled by CallRunner.stop()."""
