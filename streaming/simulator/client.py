"""A simulated Plivo call against a running server: answer URL, ``<Stream>`` WebSocket, playback, hangup URL.

``await run_call(CallScript(to="+14155550100", turns=["What are your opening hours?"]))`` returns a CallResult.
No global state and no printing: pass ``on_event`` for a live transcript. Many calls can run concurrently.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import time
import uuid
from collections import deque
from collections.abc import Callable

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from streaming.simulator import live_caller, wire
from streaming.simulator.agent_audio import AgentAudio
from streaming.simulator.audio_source import SILENT_FRAME_B64, AudioSourceError, CallerAudio, caller_audio
from streaming.simulator.config import CallerTurn, CallScript
from streaming.simulator.playout import Playout
from streaming.simulator.plivo_http import (
    BadInput,
    NotConnected,
    StreamRefused,
    describe_refusal,
    hangup_params,
    parse_answer,
    plivo_time,
    post_form,
    request_answer,
    routed_to,
)
from streaming.simulator.report import (
    AnswerLatency,
    BackchannelLatency,
    CallResult,
    TranscriptEntry,
    cut_at,
    write_stereo_wav,
)

FRAME_S = 0.02
CLOSED_AT_ONCE_S = 2.0


async def run_call(config: CallScript, http: httpx.AsyncClient | None = None) -> CallResult:
    """Place one simulated call; raises SimulatorError (with ``exit_code``) when it cannot be connected."""
    kind = SimulatedCall
    if config.listen:  # a number people answer: both sides on a one-way stream
        from streaming.simulator.listen import ListenCall

        kind = ListenCall
    if http is not None:
        return await kind(config, http).run()
    async with httpx.AsyncClient(timeout=config.http_timeout_s) as client:
        return await kind(config, client).run()


class SimulatedCall:
    """One call's state. Tasks: the 20 ms media pump (also acks checkpoints), the socket reader, the script.
    What the caller hears of the agent, and when, is kept by ``self.agent`` (agent_audio.AgentAudio)."""

    answer_status = "ringing"  # CallStatus on the answer URL (an outbound call's is "in-progress")
    tracks: tuple[str, ...] = ("inbound",)  # the start frame's tracks (listen mode: both sides)

    def __init__(self, config: CallScript, http: httpx.AsyncClient) -> None:
        self.config, self.http = config, http
        self.turns = config.caller_turns()
        self.base = config.base_url.rstrip("/")
        call_uuid = config.call_uuid or str(uuid.uuid4())
        self.stream_id = config.stream_id or str(uuid.uuid4())
        self.params = {"CallUUID": call_uuid, "From": config.caller, "To": config.to, "Direction": "inbound"}
        self.result = CallResult(call_uuid, config.caller, config.to, stream_id=self.stream_id)
        self.ws: ClientConnection  # the stream WebSocket, set once run() has connected it
        self.ring_at = self.t0 = time.monotonic()
        self.agent = AgentAudio(self.result, self._emit, self.ring_at)
        self.backchannel_sound: CallerAudio | None = None
        self.ring_epoch = time.time()
        self.answer_epoch: float | None = None
        self.sequence = self.chunk = 0
        self.media_template = wire.media_template(self.stream_id)
        self.outgoing: deque[tuple[str, Callable[[float], None] | None]] = deque()
        self.changed = asyncio.Event()
        self.caller_audio: list[tuple[float, bytes]] = []

    @property
    def playout(self) -> Playout:
        return self.agent.playout

    @playout.setter
    def playout(self, playout: Playout) -> None:  # e.g. one that also records each frame's timing
        self.agent.playout = playout

    # ---- the call ----
    async def run(self) -> CallResult:
        audio = await self._prepare_audio()
        cfg, result = self.config, self.result
        xml = await request_answer(
            self.http, self.base + cfg.answer_path, {**self.params, "CallStatus": self.answer_status}, cfg.auth_token
        )
        try:
            stream = parse_answer(xml)
        except NotConnected:  # a valid decline (<Speak>, <Hangup>): Plivo plays it and hangs up
            await self._post_hangup("Answer XML")
            raise
        self.answer_epoch = time.time()
        if cfg.stream_base:
            stream = routed_to(stream, cfg.stream_base)
        result.stream_url = stream.url
        self._emit("answered", f"{cfg.to} from {cfg.caller}")
        answered = time.monotonic()
        try:
            self.ws = await websockets.connect(
                stream.url, compression=None, open_timeout=10, max_size=2**24, user_agent_header="PlivoSimulator/1.0"
            )
        except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
            await self._post_hangup("Error")
            raise StreamRefused(f"the stream WebSocket {stream.url} was refused: {describe_refusal(exc)}") from None
        result.connect_ms = (time.monotonic() - answered) * 1000
        status_url = stream.status_callback_url if cfg.stream_status else ""
        status_task = self._status_callback(status_url, "StartStream") if status_url else None
        try:
            await self._converse(audio)
        finally:
            await self._finish(status_url, status_task)
        if result.ended_by == "server" and not result.frames_received and result.duration_s < CLOSED_AT_ONCE_S:
            reason = f": {result.close_reason}" if result.close_reason else ""
            raise StreamRefused(f"the server closed the stream right after start (code {result.close_code}{reason})")
        return result

    async def _prepare_audio(self) -> list[CallerAudio | None]:
        cfg = self.config

        def sound(t: CallerTurn) -> CallerAudio:
            return caller_audio(t.text, t.wav, language=cfg.language, rate=t.rate or cfg.speaking_rate)

        def prepare() -> list[CallerAudio | None]:
            if cfg.backchannels is not None:
                self.backchannel_sound = sound(cfg.backchannel)
            return [None if t.dtmf else sound(t) for t in self.turns]

        try:
            return await asyncio.to_thread(prepare)
        except AudioSourceError as exc:
            raise BadInput(str(exc)) from None

    async def _converse(self, audio: list[CallerAudio | None]) -> None:
        try:
            await self._send_json(
                wire.start_message(self.params["CallUUID"], self.stream_id, self.config.account_id, self.tracks)
            )
        except websockets.ConnectionClosed:
            self.result.ended_by = "server"
            return
        self.t0 = self.agent.started = time.monotonic()
        self.result.started_at = time.time()
        self._emit("connected", f"stream {self.stream_id}")
        pump = asyncio.create_task(self._pump())
        reader = asyncio.create_task(self._read())
        script = asyncio.create_task(self._script(audio))
        remaining = self.config.max_seconds - (time.monotonic() - self.ring_at)
        done, _ = await asyncio.wait(
            {reader, script, pump}, timeout=max(0.0, remaining), return_when=asyncio.FIRST_COMPLETED
        )
        failed = next((t.exception() for t in (script, pump) if t in done and t.exception()), None)
        if reader in done or isinstance(failed, websockets.ConnectionClosed):
            self.result.ended_by = "server"
        elif failed is not None:
            self.result.ended_by, self.result.error = "error", repr(failed)
        elif script in done:
            self.result.ended_by = "caller"
        else:
            self.result.ended_by = "max-seconds"
        for task in (script, pump):
            task.cancel()
        await asyncio.gather(script, pump, return_exceptions=True)
        await self.ws.close()
        await asyncio.gather(reader, return_exceptions=True)

    async def _finish(self, status_url: str, status_task: asyncio.Task | None) -> None:
        result, end = self.result, time.monotonic()
        self.agent.finish(end)
        result.duration_s = round(end - self.ring_at, 3)
        result.close_code, result.close_reason = self.ws.close_code, self.ws.close_reason or ""
        self._emit("end", f"ended by {result.ended_by}")
        if status_task is not None:
            await asyncio.gather(status_task, return_exceptions=True)
            await asyncio.gather(self._status_callback(status_url, "StopStream"), return_exceptions=True)
        await self._post_hangup("Caller" if result.ended_by in ("caller", "max-seconds") else "Answer XML")
        if path := self.config.record_path:
            await asyncio.to_thread(self._write_recording, path, end)

    # ---- the caller's side ----
    async def _script(self, audio: list[CallerAudio | None]) -> None:
        cfg = self.config
        await self._wait_agent_done(cfg.greeting_timeout_s)
        after_backchannel = False  # the reply went on after a backchannel: a barge-in counts from its next frame
        for index, (turn, sound) in enumerate(zip(self.turns, audio, strict=True)):
            barging = cfg.barges_in(index) if cfg.barges_in else index > 0
            barge_ms = cfg.barge_in_after_ms if barging else None  # None: let the agent finish first
            if barge_ms is not None:
                started = await self._wait_reply_start(cfg.reply_timeout_s, after_backchannel)
                at = started + barge_ms / 1000 if started else time.monotonic() + cfg.silence_ms / 1000
                await asyncio.sleep(max(0.0, at - time.monotonic()))
            else:
                await self._wait_agent_done(cfg.reply_timeout_s)
                await asyncio.sleep((cfg.silence_ms if turn.silence_ms is None else turn.silence_ms) / 1000)
            after_backchannel = False
            if turn.dtmf:
                await self._press(turn.dtmf)
            elif sound is not None:  # always, for a turn that is not DTMF
                await self._speak(index + 1, turn, sound, barge_ms is not None)
                if cfg.backchannels is not None and cfg.backchannels(index):
                    after_backchannel = await self._backchannel(index + 1)
        if cfg.next_turn is not None:  # then a live caller's turns, until it is done
            await live_caller.converse(self, len(self.turns))
        await self._wait_agent_done(cfg.reply_timeout_s)
        if cfg.hang_up_after_ms is None:
            await asyncio.Future()  # stay on the line until the server hangs up or max_seconds
        else:
            await asyncio.sleep(cfg.hang_up_after_ms / 1000)

    async def _backchannel(self, number: int) -> bool:
        """Say the backchannel over the reply to turn ``number``, ``backchannel_after_ms`` after its first audio;
        False if no reply came to say it over."""
        cfg, sound = self.config, self.backchannel_sound
        started = await self._wait_reply_start(cfg.reply_timeout_s)
        if started is None or sound is None:
            return False
        await asyncio.sleep(max(0.0, started + cfg.backchannel_after_ms / 1000 - time.monotonic()))
        await self._speak(number, cfg.backchannel, sound, barge=False, backchannel=True)
        return True

    async def _speak(
        self, number: int, turn: CallerTurn, sound: CallerAudio, barge: bool, backchannel: bool = False
    ) -> None:
        """Queue a turn's frames for the pump and wait until they are sent. A backchannel is no turn: the agent's
        reply to turn ``number`` goes on (or resumes), and nothing waits for an answer to it."""
        agent, label = self.agent, {"backchannel": True} if backchannel else {}
        said: AnswerLatency | BackchannelLatency
        if backchannel:
            said = BackchannelLatency(turn=number, said=turn.label)
            self.result.backchannels.append(said)
        else:
            said = AnswerLatency(turn=number, said=turn.label, barge_in=barge)
            self.result.answers.append(said)
        spoken, last = asyncio.Event(), len(sound.frames_b64) - 1

        def sent(index: int, now: float) -> None:
            """Called by the pump when frame ``index`` of this turn has been sent."""
            if index == 0 and self.config.record_path:
                self.caller_audio.append((now - FRAME_S, sound.ulaw))
            if index == sound.onset_frame:
                agent.caller_started(said, barge, now)
                self._emit("caller-start", turn.label, turn=number, **label)
            if index == sound.end_frame - 1:
                agent.caller_stopped(said, now)
                self._emit("caller-stop", turn.label, turn=number, **label)
            if index == last:
                spoken.set()

        marked = {0, sound.onset_frame, sound.end_frame - 1, last}
        for i, payload in enumerate(sound.frames_b64):
            self.outgoing.append((payload, functools.partial(sent, i) if i in marked else None))
        await spoken.wait()

    async def _press(self, digits: str) -> None:
        self.agent.set_mark(time.monotonic())  # the agent may answer the first key at once
        for digit in digits:
            await self._send_json(wire.dtmf_message(self.stream_id, digit))
            self.result.dtmf_sent += digit
            self._emit("dtmf", digit)
            await asyncio.sleep(self.config.dtmf_gap_ms / 1000)

    async def _wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 0.5))
        return True

    async def _wait_reply_start(self, timeout: float, after_backchannel: bool = False) -> float | None:
        """When agent speech first arrived after the mark, or any agent frame after the last backchannel ended
        (None if none did within ``timeout``)."""
        key = "audio_after_watch" if after_backchannel else "first_audio_after_mark"
        await self._wait(lambda: getattr(self.agent, key) is not None, timeout)
        return getattr(self.agent, key)

    async def _wait_agent_done(self, start_timeout: float) -> None:
        """The agent spoke after the mark and has finished: playout empty and its checkpoint acknowledged."""
        if await self._wait_reply_start(start_timeout) is None:
            return
        await self._wait(self.agent.agent_done, self.config.max_seconds)

    # ---- the socket ----
    async def _send_json(self, message: dict) -> None:
        self.sequence += 1
        await self.ws.send(json.dumps({"sequenceNumber": self.sequence, **message}))

    async def _pump(self) -> None:
        """Like Plivo: one media frame every 20 ms for the whole call, silence when the caller is quiet."""
        began, sent, template, send = self.t0, 0, self.media_template, self.ws.send
        while True:
            payload, mark = self.outgoing.popleft() if self.outgoing else (SILENT_FRAME_B64, None)
            self.sequence += 1
            self.chunk += 1
            await send(template % (self.sequence, int(time.time() * 1000), self.chunk, payload))
            self.result.frames_sent += 1
            now = time.monotonic()
            if mark is not None:
                mark(now)
            await self._tick(now)
            sent += 1
            delay = began + sent * FRAME_S - time.monotonic()
            if delay < -0.2:  # the loop stalled: carry on in real time rather than bursting
                began -= delay
                delay = 0.0
            await asyncio.sleep(max(0.0, delay))

    async def _tick(self, now: float) -> None:
        for name in self.playout.due():
            await self._send_json(wire.played_stream_message(self.stream_id, name))
            self.result.checkpoints_acked += 1
            self.changed.set()
        if self.agent.idle(now):
            self.changed.set()

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                if isinstance(raw, str):
                    await self._on_message(raw, time.monotonic())
                    self.changed.set()
        except websockets.ConnectionClosed:
            pass

    async def _on_message(self, raw: str, now: float) -> None:
        try:
            message = json.loads(raw)
            event, result = message["event"], self.result
            audio = base64.b64decode(message["media"]["payload"]) if event == "playAudio" else b""
        except (ValueError, KeyError, TypeError):
            self.result.unknown_events.append(f"malformed: {raw[:80]}")
            return
        if event == "playAudio":
            self.agent.audio(audio, now)
        elif event == "checkpoint":
            self.agent.checkpoint(str(message.get("name", "")), now)
        elif event == "clearAudio":
            self.agent.clear(now)
            await self._send_json(wire.cleared_audio_message(self.stream_id))
        elif event == "sendDTMF":
            result.dtmf_received += str(message.get("dtmf", ""))
            self._emit("send-dtmf", str(message.get("dtmf", "")))
        else:
            result.unknown_events.append(str(event))

    # ---- reporting and HTTP ----
    def _emit(self, kind: str, text: str = "", *, at: float | None = None, **data) -> None:
        entry = TranscriptEntry(round((at if at is not None else time.monotonic()) - self.ring_at, 3), kind, text, data)
        self.result.transcript.append(entry)
        if self.config.on_event is not None:
            self.config.on_event(entry)

    def _status_callback(self, url: str, event: str) -> asyncio.Task:
        params = {**self.params, "Event": event, "StreamID": self.stream_id, "Timestamp": plivo_time(time.time())}
        return asyncio.create_task(self._post_status(url, params))

    async def _post_status(self, url: str, params: dict[str, str]) -> None:
        try:
            response = await post_form(self.http, url, params, self.config.auth_token)
            self.result.status_callbacks.append(response.status_code)
        except httpx.HTTPError:
            self.result.status_callbacks.append(0)

    async def _post_hangup(self, source: str) -> None:
        params = hangup_params(self.params, self.ring_epoch, self.answer_epoch, time.time(), source)
        try:
            response = await post_form(self.http, self.base + self.config.hangup_path, params, self.config.auth_token)
            self.result.hangup_status = response.status_code
        except httpx.HTTPError as exc:
            self.result.hangup_status = 0
            self.result.error = self.result.error or f"hangup URL failed: {exc}"

    def _write_recording(self, path: str, end: float) -> None:
        agent = cut_at(self.playout.played, self.agent.clears)
        write_stereo_wav(path, self.caller_audio, agent, end - self.ring_at, origin=self.ring_at)
