"""The listen-mode runner: a one-way stream of both sides of a call people are having, transcribed live.

    consumer ──handle(event)──▶ ListenRunner ──▶ Track "caller" (inbound)  ─┐ utterances (text, start, end)
                                             └─▶ Track "person" (outbound) ─┴▶ turns, alerts, sentiment (Journal)

It never sends anything on the socket (it is not even given the socket's send): Plivo's stream is one-way here.
Same lifecycle as ``CallRunner`` (start, handle, stop; the heartbeat; the stream's records), so the consumer
treats both alike.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from calls.alerts import queue_alert
from calls.records import LiveCall
from streaming import plivo
from streaming.call_control import CallControl
from streaming.inbound import Admit
from streaming.journal import Journal
from streaming.listen.insight import LiveInsight
from streaming.listen.track import Track
from streaming.providers import registry
from streaming.providers.base import ProviderError, SpeechToText
from streaming.providers.config import CallConfig
from streaming.providers.sentiment import create_sentiment, label
from streaming.recording import CallRecorder
from streaming.stream_ending import CloseSocket, StreamEnding
from streaming.task_set import TaskSet
from streaming.weak_callbacks import weak_callback

log = logging.getLogger(__name__)
ProviderFactory = Callable[[CallConfig], tuple[Any, Any, Any]]
STATS_EVERY_S = 1.0
ROLE_OF_TRACK = {plivo.INBOUND: "caller", plivo.OUTBOUND: "person"}


class ListenRunner(StreamEnding):
    def __init__(
        self,
        call: LiveCall,
        stream_id: str,
        close_socket: CloseSocket,
        factory: ProviderFactory,
        *,
        site_url: str = "",
        opened_at: float | None = None,
    ) -> None:
        self.call = call
        self.config = call.config
        self.stream_id = stream_id
        self.started_at = time.monotonic()
        self.started_wall = timezone.now()
        self._factory = factory
        self._close_socket = close_socket
        self._tasks = TaskSet(call.call_uuid, on_error=weak_callback(self._task_failed))
        self._side = TaskSet(call.call_uuid)
        self._extras: list[Any] = []  # what a provider factory made besides the STT (closed at start)
        self.journal = Journal(call, self._side, stream_id)
        self.control = CallControl(call.call_uuid, self.journal, close_socket, site_url, self.config)
        self.insight = LiveInsight(call.alert_phrases)
        self.sentiment = create_sentiment(self.config)
        self.scores: dict[str, float] = {}  # turn sequence → its utterance's sentiment
        self.recorder, self.recording_path = self._open_recorder()
        opened = self.started_at if opened_at is None else opened_at
        self.tracks = {track: self._track(role, opened) for track, role in ROLE_OF_TRACK.items()}
        self.bad_frames = 0
        self._ending: asyncio.Task | None = None
        self._stopping: asyncio.Task | None = None

    def _new_stt(self) -> SpeechToText:
        if self._factory is registry.create_providers:  # the default: only the STT is needed
            return registry.create_stt(self.config)
        stt, *extras = self._factory(self.config)
        self._extras.extend(extras)
        return stt

    async def _restart_stt(self) -> SpeechToText:
        stt = self._new_stt()
        await self._close_extras()
        await stt.start()
        return stt

    def _show_partial(self, who: str, text: str) -> None:
        self.journal.show("partial", {"role": who, "text": text})

    def _track(self, role: str, opened_at: float) -> Track:
        """One side's track, calling back through weak references (streaming/weak_callbacks.py: no cycle)."""
        return Track(
            role,
            self._new_stt(),
            self.config.end_of_speech_ms,
            opened_at=opened_at,
            on_frame=weak_callback(self._frame),
            on_partial=weak_callback(self._show_partial),
            on_final=weak_callback(self._utterance),
            on_stt_failure=weak_callback(self._stt_failed),
            restart_stt=weak_callback(self._restart_stt),
        )

    def _open_recorder(self) -> tuple[CallRecorder | None, str]:
        if not self.config.record_calls:
            return None, ""
        relative = f"{timezone.now():%Y/%m/%d}/{self.call.call_uuid}.wav"
        return CallRecorder(Path(settings.RECORDINGS_DIR) / relative, self.started_at), relative

    # ---- lifecycle ----
    async def start(self) -> None:
        self._side.spawn(self._record_start())
        for track in self.tracks.values():
            self._tasks.spawn(track.read_audio())
            self._tasks.spawn(track.read_transcripts())
        for work in (self._start_stts(), self._heartbeat(), self._publish_stats()):
            self._tasks.spawn(work)

    async def _start_stts(self) -> None:
        await self._close_extras()
        for track in self.tracks.values():
            try:
                await track.stt.start()
            except ProviderError as exc:
                self._stt_failed(exc)

    async def _close_extras(self) -> None:
        extras, self._extras = self._extras, []
        for extra in extras:
            try:
                await asyncio.wait_for(extra.close(), 10)
            except Exception:
                log.warning("Closing %s failed", type(extra).__name__, exc_info=True)

    async def _record_start(self) -> None:
        outcome = await self.journal.stream_started(self.started_wall, self.call.stream_id)
        if outcome == "call-ended":
            self.end_stream(plivo.CLOSE_NOT_LIVE, "the call has ended")

    @property
    def stopping(self) -> bool:
        return self._stopping is not None

    async def stop(self) -> None:
        """The stream is over: cancel everything, close the STTs, finish the records. Idempotent."""
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self._stop())
        await asyncio.shield(self._stopping)

    async def _stop(self) -> None:
        pending = self._tasks.pending()
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for track in self.tracks.values():
            try:
                await asyncio.wait_for(track.stt.close(), 10)
            except Exception:
                log.warning("Closing %s failed", type(track.stt).__name__, exc_info=True)
        await self._close_extras()
        try:
            if self.recorder:
                await asyncio.to_thread(self.recorder.close)
            self.journal.metrics({"listen_live": self._stats(), "listen_sentiment": dict(self.scores)})
            caller, person = self.tracks[plivo.INBOUND], self.tracks[plivo.OUTBOUND]
            stream = {**caller.stats.summary(0), "bad_frames": self.bad_frames}
            stream["person_frames_in"] = person.stats.summary(0).get("frames_in")
            await self.journal.close(self.stream_id, self.recording_path, stream)
        except Exception:
            log.exception("Call %s: finishing the stream's records failed", self.call.call_uuid)
        finally:
            await self._side.cancel_all()

    # ---- what the consumer hands over ----
    def handle(self, event: plivo.Event) -> None:
        if self._ending is not None or self._stopping is not None:
            return
        if isinstance(event, plivo.Media):
            if self.tracks[event.track].feed(event.payload, event.timestamp_ms) is Admit.FLOOD:
                self.end_stream(plivo.CLOSE_FLOOD, f"{event.track} audio flood: over 10 s ahead of real time")
        elif isinstance(event, plivo.Dtmf):
            self.journal.event("dtmf", {"digit": event.digit}, shown={"digit": event.digit})

    def note_bad_frame(self, exc: plivo.CodecError) -> None:
        self.bad_frames += 1
        if self.bad_frames in (1, 10, 100, 1000):
            log.warning("Call %s: bad frame #%d: %s", self.call.call_uuid, self.bad_frames, exc)

    def operator_hangup(self) -> None:
        self._side.spawn(self.control.hang_up("operator"))

    def machine_answered(self) -> None:
        """Machine detection is for calls we place; listen-mode calls are answered by people."""

    # ---- what the tracks report ----
    def _frame(self, role: str, frame: bytes, at_ms: int, voiced: bool) -> None:
        if voiced:
            self.insight.voiced(role, at_ms)
        if self.recorder is None:
            return
        if role == "caller":
            self.recorder.caller_frame(frame)
        else:  # the person on the recording's other channel, at their own stream time
            self.recorder.agent_frame(self.started_at + at_ms / 1000, frame)

    def _utterance(self, role: str, text: str, start_ms: int, end_ms: int) -> None:
        """A finished utterance: stored as a turn at once; alerts, then its sentiment (which may ask the LLM)."""
        sequence = self.journal.next_sequence()
        self.journal.turn(sequence, role, text, start_ms=start_ms, end_ms=end_ms)
        for phrase in self.insight.alerts(text):
            alert = {"phrase": phrase, "speaker": role, "text": text, "at_ms": start_ms, "sequence": sequence}
            log.info("Call %s: alert %r said by the %s", self.call.call_uuid, phrase, role)
            self.journal.event("alert", alert, shown=alert)
            self._side.spawn(queue_alert(self.call.id, alert))
        self._side.spawn(self._score(sequence, role, text))

    async def _score(self, sequence: int, role: str, text: str) -> None:
        score = await self.sentiment.score(text)
        rolling = self.insight.scored(role, score)
        self.scores[str(sequence)] = score
        self.journal.metrics({"listen_sentiment": dict(self.scores)})
        shown = {"sequence": sequence, "role": role, "score": score, "label": label(score), "rolling": rolling}
        self.journal.show("sentiment", shown)

    def _stt_failed(self, exc: ProviderError) -> None:
        log.warning("Call %s: STT %s failed: %s", self.call.call_uuid, exc.provider, exc)
        self.journal.error(exc.provider, str(exc), exc.permanent)

    # ---- periodic ----
    def _stats(self) -> dict:
        return self.insight.snapshot(max(track.stream_ms for track in self.tracks.values()))

    async def _publish_stats(self) -> None:
        while True:
            await asyncio.sleep(STATS_EVERY_S)
            stats = self._stats()
            self.journal.metrics({"listen_live": stats})
            self.journal.show("listen-stats", stats)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(settings.CALL_HEARTBEAT_SECONDS)
            self.journal.heartbeat()
