"""The call runner: the one asyncio orchestrator of a live call, composed of small parts.

    consumer ──handle(event)──▶ runner ──feed──▶ Listener (VAD + STT) ──events──▶ Session (turn-taking)
                                   ▲                                                 │ actions
                                   └──────────── carried out here ◀──────────────────┘
    Speaker (fixed lines, LLM → TTS) ──▶ Player (paced playAudio, checkpoints) ;  Journal (records + live page)

Database writes and live-page events run in side tasks, never on the audio path. Every await on a provider is
bounded or cancellable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from calls import transfers
from calls.records import LiveCall
from streaming import plivo, turns
from streaming.call_control import CallControl
from streaming.inbound import Admit
from streaming.journal import Journal
from streaming.listener import Listener
from streaming.playback import Player
from streaming.providers.base import LanguageModel, Message, ProviderError, SpeechToText, TextToSpeech
from streaming.providers.config import CallConfig
from streaming.recording import CallRecorder
from streaming.reply import TurnTiming
from streaming.session import Session, State
from streaming.speaker import Speaker
from streaming.stream_ending import CloseSocket, StreamEnding
from streaming.task_set import TaskSet
from streaming.weak_callbacks import weak_callback

log = logging.getLogger(__name__)
ProviderFactory = Callable[[CallConfig], tuple[SpeechToText, LanguageModel, TextToSpeech]]
BAD_FRAME_LOG_AT = (1, 10, 100, 1000)
PAUSE_LIMIT_S = 1.5  # a pause on the caller's voice is decided (resume or interruption) within this
BEEP_QUIET_S = 1.5  # a machine answered: this much quiet after its greeting and beep, then the voicemail message
BEEP_WAIT_MAX_S = 30.0  # ... or after this long, whatever the machine still plays


class CallRunner(StreamEnding):
    def __init__(
        self,
        call: LiveCall,
        stream_id: str,
        send: Callable[[str], Awaitable[None]],
        close_socket: CloseSocket,
        factory: ProviderFactory,
        *,
        site_url: str = "",
        greet: bool = True,
        opened_at: float | None = None,
    ) -> None:
        self.call = call
        self.config = call.config
        self.stream_id = stream_id
        self.greet = greet
        self.started_at = time.monotonic()
        self.started_wall = timezone.now()
        self.session = Session(self.config)
        self._factory = factory
        stt, llm, tts = factory(self.config)
        self._close_socket = close_socket
        self._send = send
        # The parts call back through weak references: no cycle keeps a finished call for the collector.
        dispatch, provider_failed = weak_callback(self.dispatch), weak_callback(self._provider_failed)
        self._tasks = TaskSet(call.call_uuid, on_error=weak_callback(self._task_failed))  # cancelled when it ends
        self._side = TaskSet(call.call_uuid)  # records, hang-up, warm-up: awaited (bounded) when it ends
        self.journal = Journal(call, self._side, stream_id)
        self.recorder, self.recording_path = self._open_recorder()
        self.player = Player(send, stream_id, on_frame=self.recorder.agent_frame if self.recorder else None)
        self.listener = Listener(
            stt,
            self.config.end_of_speech_ms,
            dispatch,
            recorder=self.recorder,
            on_partial=weak_callback(self._show_partial),
            on_stt_failure=provider_failed,
            restart_stt=weak_callback(self._restart_stt),
            opened_at=self.started_at if opened_at is None else opened_at,
        )
        self.speaker = Speaker(
            call, self.player, llm, tts, self.journal, dispatch, provider_failed, started_at=self.started_at
        )
        self.control = CallControl(call.call_uuid, self.journal, close_socket, site_url, self.config)
        self._silence_timer: asyncio.Task | None = None
        self._pause_timer: asyncio.Task | None = None
        self._ending: asyncio.Task | None = None
        self._stopping: asyncio.Task | None = None

    def _show_partial(self, text: str) -> None:
        self.journal.show("partial", {"text": text})

    def _open_recorder(self) -> tuple[CallRecorder | None, str]:
        if not self.config.record_calls:
            return None, ""
        relative = f"{timezone.now():%Y/%m/%d}/{self.call.call_uuid}.wav"
        return CallRecorder(Path(settings.RECORDINGS_DIR) / relative, self.started_at), relative

    # ---- lifecycle ----
    async def start(self) -> None:
        """Start the call at once: its stream's start is recorded beside the greeting, never before it."""
        self._side.spawn(self._record_start())
        for work in (
            self.player.run(),
            self.listener.read_audio(),
            self.listener.read_transcripts(),
            self._end_after_max(),
            self._heartbeat(),
            self._start_providers(),
        ):
            self._tasks.spawn(work)
        if self.call.answered_by == "voicemail":  # machine detection answered before the stream connected
            self.machine_answered()
        elif self.greet:
            self.dispatch(turns.CallStarted())
        else:
            self._execute(turns.StartSilenceTimer(self.config.silence_timeout_seconds))
            self._side.spawn(self._back_from_transfer())

    async def _back_from_transfer(self) -> None:
        """A transfer nobody took brought the caller back (a new stream): say so, as this stream's greeting."""
        if await transfers.take_return(self.call.id) and self.session.state is State.LISTENING:
            line = transfers.for_language(transfers.RETURN_LINES, self.config.language)
            self.session.config = self.session.config.replace(greeting=line)
            self.dispatch(turns.CallStarted())

    async def _record_start(self) -> None:
        outcome = await self.journal.stream_started(self.started_wall, self.call.stream_id)
        if outcome == "call-ended":
            self.end_stream(plivo.CLOSE_NOT_LIVE, "the call has ended")
        elif outcome == "superseded":
            log.warning(
                "Call %s: a newer stream has taken the call over; %s not recorded", self.call.call_uuid, self.stream_id
            )

    async def _start_providers(self) -> None:
        for provider in (self.listener.stt, self.speaker.tts):
            try:
                await provider.start()
            except ProviderError as exc:
                self._provider_failed(exc)
        self.speaker.warm_fixed_lines(self._side.spawn)

    async def _restart_stt(self) -> SpeechToText:
        stt, llm, tts = self._factory(self.config)
        for extra in (llm, tts):
            await extra.close()
        await stt.start()
        return stt

    @property
    def stopping(self) -> bool:
        return self._stopping is not None

    async def stop(self) -> None:
        """The stream is over: cancel everything, close providers, finish the records. Idempotent: every caller
        waits for the one stop (which a caller's own cancellation does not interrupt)."""
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self._stop())
        await asyncio.shield(self._stopping)

    async def _stop(self) -> None:
        """Each step runs whatever the one before did: no task of the call outlives it, no provider stays open."""
        try:
            self.session.handle(turns.StreamClosed())
            self.speaker.stream_closed()
        except Exception:
            log.exception("Call %s: storing the end of the stream failed", self.call.call_uuid)
        pending = [*self._tasks.pending(), *self.speaker.cancel_all()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self._close_providers()
        try:
            if self.recorder:
                await asyncio.to_thread(self.recorder.close)
            stream_metrics = self.listener.stats.summary(self.player.frames_sent)
            if self.config.preemptive_reply:
                self.journal.metrics({"preemptive": dict(self.speaker.preemptive)})
            await self.journal.close(self.stream_id, self.recording_path, stream_metrics)
        except Exception:
            log.exception("Call %s: finishing the stream's records failed", self.call.call_uuid)
        finally:
            await self._side.cancel_all()  # writes still stuck after journal.close's bounded wait

    async def _close_providers(self) -> None:
        for provider in (self.listener.stt, self.speaker.llm, self.speaker.tts):
            try:
                await asyncio.wait_for(provider.close(), 10)
            except Exception:
                log.warning("Closing %s failed", type(provider).__name__, exc_info=True)

    # ---- what the consumer hands over ----
    def handle(self, event: plivo.Event) -> None:
        """Every decoded Plivo event after ``start`` (``start`` itself creates the runner, ``stop`` closes it)."""
        if self._ending is not None or self._stopping is not None:
            return
        if isinstance(event, plivo.Media):
            if self.listener.feed(event.payload, event.timestamp_ms) is Admit.FLOOD:
                self.end_stream(plivo.CLOSE_FLOOD, "caller audio flood: over 10 s of audio ahead of real time")
        elif isinstance(event, plivo.PlayedStream):
            self.player.played(event.name)
        elif isinstance(event, plivo.Dtmf):
            self.journal.event("dtmf", {"digit": event.digit}, shown={"digit": event.digit})
            self.dispatch(turns.Dtmf(event.digit))
        elif isinstance(event, plivo.Unknown):
            self.listener.stats.unknown_events += 1

    def note_bad_frame(self, exc: plivo.CodecError) -> None:
        self.listener.stats.bad_frames += 1
        if (count := self.listener.stats.bad_frames) in BAD_FRAME_LOG_AT:
            log.warning("Call %s: bad frame #%d: %s", self.call.call_uuid, count, exc)

    def operator_hangup(self) -> None:
        self.dispatch(turns.OperatorHangup())

    def machine_answered(self) -> None:
        """Plivo's machine detection (through the control channel): an answering machine took the call."""
        if self._ending is None and self._stopping is None:
            self.journal.show("machine", {"answered_by": "voicemail"})
            self.dispatch(turns.MachineAnswered())

    # ---- turn-taking ----
    def dispatch(self, event: turns.Event) -> None:
        for action in self.session.handle(event):
            self._execute(action)

    def _execute(self, action: turns.Action) -> None:
        match action:
            case turns.Say(text, purpose):
                self.speaker.say(text, purpose)
            case turns.Reply():
                self.speaker.reply(TurnTiming(speech_end=self.listener.last_voice_at, stt_final=self.listener.final_at))
            case turns.RecordCallerTurn(text, store):
                self._record_caller_turn(text, store)
            case turns.Interrupt():
                self._cancel(self._pause_timer)
                self._interrupt()
            case turns.Pause():
                self._pause()
            case turns.Resume():
                self._cancel(self._pause_timer)
                self.speaker.resume()
            case turns.Prepare(text):
                self.speaker.prepare(text, TurnTiming(speech_end=self.listener.last_voice_at))
            case turns.ReleasePrepared():
                if not self.speaker.release():
                    self._execute(turns.Reply())
            case turns.DiscardPrepared():
                self.speaker.discard()
            case turns.StartSilenceTimer(seconds):
                self._stop_silence_timer()
                self._silence_timer = self._tasks.spawn(self._silence_after(seconds))
            case turns.StopSilenceTimer():
                self._stop_silence_timer()
            case turns.HangUp(reason):
                self._side.spawn(self.control.hang_up(reason))
            case turns.Transfer(destination, summary):
                self._side.spawn(self.control.transfer(destination, summary))
            case turns.SendDtmf(digits):
                self._side.spawn(self._send_dtmf(digits))
            case turns.AwaitBeep():
                self._tasks.spawn(self._await_beep())
            case turns.Close():
                pass  # stop() does it

    async def _send_dtmf(self, digits: str) -> None:
        """Press keys on the call (Plivo's ``sendDTMF``); a socket already gone ends nothing more."""
        try:
            await self._send(plivo.send_dtmf(digits))
        except plivo.CodecError as exc:
            self.journal.event("dtmf-sent", {"digits": digits, "error": str(exc)})
            return
        self.journal.event("dtmf-sent", {"digits": digits}, shown={"digits": digits})

    def _record_caller_turn(self, text: str, store: bool) -> None:
        listener = self.listener
        listener.final_at = time.monotonic()
        self.speaker.history.append(Message("caller", text))
        if store:
            sequence = self.journal.next_sequence()
            end_ms = listener.caller_turn_end_ms()
            self.journal.turn(sequence, "caller", text, start_ms=listener.speech_onset_ms, end_ms=end_ms)

    def _reaction_ms(self) -> float | None:
        """Since the caller's voice started (how long the agent talked over them)."""
        started = self.listener.speech_started_at
        return None if started is None else round((time.monotonic() - started) * 1000, 1)

    def _interrupt(self) -> None:
        if self.speaker.interrupt(self._reaction_ms()) and self.recorder:
            self.recorder.drop_agent_after(time.monotonic())

    def _pause(self) -> None:
        if self.speaker.pause(self._reaction_ms()) and self.recorder:
            self.recorder.drop_agent_after(time.monotonic())
        self._cancel(self._pause_timer)
        self._pause_timer = self._tasks.spawn(self._pause_limit())

    async def _pause_limit(self) -> None:
        await asyncio.sleep(PAUSE_LIMIT_S)
        self._pause_timer = None
        self.dispatch(turns.PauseExpired())

    @staticmethod
    def _cancel(task: asyncio.Task | None) -> None:
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _silence_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._silence_timer = None
        self.dispatch(turns.SilenceTimeout())

    def _stop_silence_timer(self) -> None:
        self._cancel(self._silence_timer)
        self._silence_timer = None

    async def _await_beep(self) -> None:
        """Wait until the machine has been quiet ``BEEP_QUIET_S`` (its greeting and beep are over; the VAD hears
        both), at most ``BEEP_WAIT_MAX_S``, then leave the message."""
        started = time.monotonic()
        while (now := time.monotonic()) - started < BEEP_WAIT_MAX_S:
            if now - max(started, self.listener.last_voice_at or 0.0) >= BEEP_QUIET_S:
                break
            await asyncio.sleep(0.05)
        self.dispatch(turns.MachineQuiet())

    async def _heartbeat(self) -> None:
        """Tell the database this process still holds the call (the sweeper ends calls whose process died)."""
        while True:
            await asyncio.sleep(settings.CALL_HEARTBEAT_SECONDS)
            self.journal.heartbeat()

    async def _end_after_max(self) -> None:
        await asyncio.sleep(self.config.max_call_seconds)
        self.dispatch(turns.MaxDuration())

    def _provider_failed(self, exc: ProviderError, fallback: bool = True) -> None:
        """Store the error; with ``fallback`` the caller hears the fallback line."""
        log.warning("Call %s: provider %s failed: %s", self.call.call_uuid, exc.provider, exc)
        self.journal.error(exc.provider, str(exc), exc.permanent)
        if fallback:
            self.dispatch(turns.ReplyFailed(str(exc)))
