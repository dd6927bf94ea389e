"""A local Azure Speech service the real Speech SDK talks to (``SpeechConfig(host=fake.url)``).

It runs in a background thread with its own event loop, so the SDK's native threads can always connect,
whatever the test's own loop is doing. Usage::

    with AzureSpeechFake() as fake:
        settings.AZURE_SPEECH_HOST = fake.url
        fake.script_stt("What is my balance.", NO_MATCH)
        ...
        assert fake.ssml_requests[-1] ...

STT: audio energy drives it. Speech after silence starts an utterance (``speech.startDetected`` once per
turn, then ``speech.hypothesis`` partials); trailing silence as long as the segmentation timeout the client
asked for ends it with a ``speech.phrase`` carrying the next scripted text (or NoMatch). The empty audio frame
ends the turn (``EndOfDictation``, ``speech.endDetected``, ``turn.end``).

TTS: every SSML is recorded; the answer is ``audio_for(text)`` split into ``tts_chunk_bytes`` binary chunks,
``tts_chunk_delay`` apart, after ``tts_first_byte_delay``. When the client's ``synthesis.context`` asks for word
(punctuation) boundaries, each token's ``audio.metadata`` goes out just before the chunk holding its start, at
the offset ``text_boundaries`` gives it (the audio spread evenly over the text's characters). ``tts_sessions``
holds every synthesis connection (``closed_at`` once it is closed).

Error modes: ``reject_status`` (refuse the upgrade, e.g. 401), ``stt_drop_after_bytes``/``stt_drops`` and
``tts_drop_after_chunks`` (close with 1011 mid-session).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.fakes.azure_usp import (
    FRAME_BYTES,
    TICKS_PER_ULAW_BYTE,
    WAV_HEADER_BYTES,
    Boundary,
    UspMessage,
    audio_message,
    frame_energy,
    metadata_body,
    parse_message,
    service_tag,
    text_boundaries,
    text_message,
)

NO_MATCH = None  # a script entry: the utterance is heard but not recognized
SPEECH_ENERGY = 1000.0  # mean |sample| above which a 20 ms frame counts as speech


def default_audio_for(text: str) -> bytes:
    """Deterministic μ-law bytes for ``text``: 20 ms per character, at least 200 ms."""
    digest = hashlib.sha256(text.encode()).digest()
    size = FRAME_BYTES * max(10, len(text))
    return (digest * (size // len(digest) + 1))[:size]


def ssml_text(ssml: str) -> str:
    """The spoken text of an SSML document (entities resolved)."""
    try:
        return "".join(ET.fromstring(ssml).itertext())
    except ET.ParseError:
        return ssml


@dataclass
class ConnectionRecord:
    path: str
    headers: dict[str, str]
    opened_at: float = field(default_factory=time.monotonic)


@dataclass
class Synthesis:
    """One TTS request as the fake saw it."""

    ssml: str
    text: str
    audio: bytes
    chunk_times: list[float] = field(default_factory=list)
    boundaries: list[Boundary] = field(default_factory=list)  # the word/punctuation boundaries sent
    finished_at: float | None = None


class AzureSpeechFake:
    """The fake service. Attributes below may be changed by a test at any time."""

    def __init__(self) -> None:
        self.reject_status: int | None = None
        self.segmentation_silence_ms = 500  # used when the client does not ask for one
        self.final_delay_ms = 0  # the final comes this much later than the segmentation silence (real: ~0.3-1 s)
        self.hypothesis_every_ms = 200
        self.stt_script: deque[str | None] = deque()
        self.stt_default: str | None = NO_MATCH
        self.stt_cycle: list[str | None] = []  # without a script: each connection's utterances in turn, cycling
        self.stt_drop_after_bytes: int | None = None
        self.stt_drops: int | None = None  # how many connections may still be dropped; None: no limit
        self.audio_for: Callable[[str], bytes] = default_audio_for
        self.tts_chunk_bytes = 800
        self.tts_chunk_delay = 0.0
        self.tts_first_byte_delay = 0.0
        self.tts_drop_after_chunks: int | None = None
        self.tts_release: threading.Event | None = None  # when set: hold all but the first chunk until released
        self.tts_sessions: list[TtsSession] = []
        self.connections: list[ConnectionRecord] = []
        self.messages: list[UspMessage] = []
        self.syntheses: list[Synthesis] = []
        self.stt_audio = bytearray()
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="azure-speech-fake", daemon=True)
        self._server: Server | None = None

    # --- scripting and assertions -----------------------------------------------------------------

    def script_stt(self, *utterances: str | None) -> None:
        """Queue what the next utterances are recognized as (``NO_MATCH`` for no match)."""
        self.stt_script.extend(utterances)

    @property
    def ssml_requests(self) -> list[str]:
        return [s.ssml for s in self.syntheses]

    def sent(self, path: str) -> list[UspMessage]:
        """Messages the client sent with this path (e.g. ``speech.context``)."""
        return [m for m in self.messages if m.path == path]

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> AzureSpeechFake:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        self.url = f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
            self._server = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> AzureSpeechFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self) -> Server:
        return await serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._check_upgrade,
            compression=None,
            max_size=None,
            ping_interval=None,
            close_timeout=0.2,
        )

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def _check_upgrade(self, connection: ServerConnection, request: Request) -> Response | None:
        self.connections.append(ConnectionRecord(request.path, {k.lower(): v for k, v in request.headers.raw_items()}))
        if self.reject_status is not None:
            return connection.respond(HTTPStatus(self.reject_status), "rejected by the fake\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        session = TtsSession(self, ws) if "/cognitiveservices/websocket/" in ws.request.path else SttSession(self, ws)
        try:
            async for frame in ws:
                message = parse_message(frame)
                self.messages.append(message)
                await session.on_message(message)
        except ConnectionClosed:
            pass
        finally:
            session.closed()


class SttSession:
    """One recognition connection: turns, utterances, drops."""

    def __init__(self, fake: AzureSpeechFake, ws: ServerConnection) -> None:
        self.fake, self.ws = fake, ws
        self.request_id = ""
        self.silence_ms = fake.segmentation_silence_ms
        self.connection_bytes = 0
        self.pending_finals: set[asyncio.Task] = set()
        self.utterances = 0
        self._new_turn()

    def _new_turn(self) -> None:
        self.turn_bytes = 0
        self.start_detected = False
        self.utterance: dict[str, Any] | None = None  # text, start, last_voice, hypotheses
        self.pending = b""

    async def send(self, path: str, body: dict[str, Any]) -> None:
        await self.ws.send(text_message(path, self.request_id, body))

    async def on_message(self, message: UspMessage) -> None:
        if message.path == "speech.context":
            self._new_turn()
            self.request_id = message.request_id
            self.silence_ms = segmentation_silence_ms(message.json(), self.fake.segmentation_silence_ms)
            await self.send("turn.start", {"context": {"serviceTag": service_tag()}})
        elif message.path == "audio" and isinstance(message.body, bytes):
            await self.on_audio(message.body)

    async def on_audio(self, payload: bytes) -> None:
        if not payload:
            await self.end_turn()
            return
        if payload.startswith(b"RIFF"):
            payload = payload[WAV_HEADER_BYTES:]
        self.fake.stt_audio += payload
        self.connection_bytes += len(payload)
        audio = self.pending + payload
        usable = len(audio) - len(audio) % FRAME_BYTES
        self.pending = audio[usable:]
        for start in range(0, usable, FRAME_BYTES):
            await self.on_frame(audio[start : start + FRAME_BYTES])
        if self.should_drop():
            await self.ws.close(1011, "fake service error")

    def should_drop(self) -> bool:
        """Whether to fail this connection now (the settings are read live, so a test can heal the service)."""
        fake = self.fake
        limit = fake.stt_drop_after_bytes
        if limit is None or self.connection_bytes < limit or fake.stt_drops == 0:
            return False
        if fake.stt_drops is not None:
            fake.stt_drops -= 1
        return True

    async def on_frame(self, frame: bytes) -> None:
        voiced = frame_energy(frame) > SPEECH_ENERGY
        self.turn_bytes += len(frame)
        now = self.turn_bytes * TICKS_PER_ULAW_BYTE
        if voiced and self.utterance is None:
            await self.start_utterance(now - len(frame) * TICKS_PER_ULAW_BYTE)
        if self.utterance is None:
            return
        if voiced:
            self.utterance["last_voice"] = now
            await self.maybe_hypothesis(now)
        elif now - self.utterance["last_voice"] >= self.silence_ms * 10_000:
            await self.finish_utterance()

    async def start_utterance(self, offset: int) -> None:
        script, cycle = self.fake.stt_script, self.fake.stt_cycle
        if script:
            text = script.popleft()
        elif cycle:
            text = cycle[self.utterances % len(cycle)]
        else:
            text = self.fake.stt_default
        self.utterances += 1
        self.utterance = {"text": text, "start": offset, "last_voice": offset, "hypotheses": 0}
        if not self.start_detected:
            self.start_detected = True
            await self.send("speech.startDetected", {"Offset": offset})

    async def maybe_hypothesis(self, now: int) -> None:
        utterance = self.utterance
        assert utterance is not None
        due = (now - utterance["start"]) // (self.fake.hypothesis_every_ms * 10_000)
        if utterance["text"] is None or due <= utterance["hypotheses"]:
            return
        utterance["hypotheses"] += 1
        words = utterance["text"].lower().strip(".?!").replace(",", "").split()
        if utterance["hypotheses"] > len(words):
            return  # the whole text was already hypothesized
        partial = " ".join(words[: utterance["hypotheses"]])
        start = utterance["start"]
        await self.send("speech.hypothesis", {"Text": partial, "Offset": start, "Duration": now - start})

    async def finish_utterance(self) -> None:
        utterance, self.utterance = self.utterance, None
        assert utterance is not None
        if self.fake.final_delay_ms:  # the service is still deciding: audio goes on being read meanwhile
            task = asyncio.get_running_loop().create_task(self.send_final(utterance, self.fake.final_delay_ms))
            self.pending_finals.add(task)
            task.add_done_callback(self.pending_finals.discard)
            return
        await self.send_final(utterance)

    async def send_final(self, utterance: dict[str, Any], delay_ms: int = 0) -> None:
        await asyncio.sleep(delay_ms / 1000)
        start, duration = utterance["start"], utterance["last_voice"] - utterance["start"]
        if utterance["text"] is None:
            await self.send("speech.phrase", {"RecognitionStatus": "NoMatch", "Offset": start, "Duration": duration})
            return
        await self.send(
            "speech.phrase",
            {"RecognitionStatus": "Success", "DisplayText": utterance["text"], "Offset": start, "Duration": duration},
        )

    async def end_turn(self) -> None:
        if self.utterance is not None:
            await self.finish_utterance()
        end = self.turn_bytes * TICKS_PER_ULAW_BYTE
        await self.send("speech.phrase", {"RecognitionStatus": "EndOfDictation", "Offset": end, "Duration": 0})
        await self.send("speech.endDetected", {"Offset": end})
        await self.send("turn.end", {})

    def closed(self) -> None:
        """Nothing to release."""


def segmentation_silence_ms(context: dict[str, Any], default: int) -> int:
    """The segmentation silence timeout a ``speech.context`` asks for."""
    detection = context.get("phraseDetection", {})
    for section in (detection, *(v for v in detection.values() if isinstance(v, dict))):
        value = section.get("segmentation", {}).get("segmentationSilenceTimeoutMs")
        if value is not None:
            return int(value)
    return default


class TtsSession:
    """One synthesis connection: answers every ``ssml`` with streamed audio."""

    def __init__(self, fake: AzureSpeechFake, ws: ServerConnection) -> None:
        self.fake, self.ws = fake, ws
        self.request_id = ""
        self.task: asyncio.Task[None] | None = None
        self.kinds: set[str] = set()  # the boundary types the client asked for
        self.closed_at: float | None = None
        fake.tts_sessions.append(self)

    async def on_message(self, message: UspMessage) -> None:
        if message.path == "synthesis.context":
            self.request_id = message.request_id
            options = message.json().get("synthesis", {}).get("audio", {}).get("metadataOptions", {})
            asked = {"WordBoundary": "wordBoundaryEnabled", "PunctuationBoundary": "punctuationBoundaryEnabled"}
            self.kinds = {kind for kind, option in asked.items() if options.get(option)}
        elif message.path == "ssml" and isinstance(message.body, str):
            text = ssml_text(message.body)
            synthesis = Synthesis(message.body, text, self.fake.audio_for(text))
            self.fake.syntheses.append(synthesis)
            self.task = asyncio.create_task(self.synthesize(synthesis, message.request_id or self.request_id))

    async def synthesize(self, synthesis: Synthesis, request_id: str) -> None:
        fake, stream_id = self.fake, service_tag()
        try:
            await self.ws.send(text_message("turn.start", request_id, {"context": {"serviceTag": service_tag()}}))
            response = {"context": {"serviceTag": service_tag()}, "audio": {"type": "inline", "streamId": stream_id}}
            await self.ws.send(text_message("response", request_id, response))
            await asyncio.sleep(fake.tts_first_byte_delay)
            size = fake.tts_chunk_bytes
            boundaries = [b for b in text_boundaries(synthesis.text, len(synthesis.audio)) if b.kind in self.kinds]
            for index, start in enumerate(range(0, len(synthesis.audio), size)):
                if fake.tts_drop_after_chunks is not None and index >= fake.tts_drop_after_chunks:
                    await self.ws.close(1011, "fake service error")
                    return
                if index and fake.tts_release is not None:
                    await asyncio.to_thread(fake.tts_release.wait, 30)
                elif index:
                    await asyncio.sleep(fake.tts_chunk_delay)
                while boundaries and boundaries[0].offset < (start + size) * TICKS_PER_ULAW_BYTE:
                    synthesis.boundaries.append(boundary := boundaries.pop(0))
                    await self.ws.send(text_message("audio.metadata", request_id, metadata_body(boundary)))
                await self.ws.send(audio_message(request_id, stream_id, synthesis.audio[start : start + size]))
                synthesis.chunk_times.append(time.monotonic())
            await self.ws.send(text_message("turn.end", request_id, {}))
            synthesis.finished_at = time.monotonic()
        except ConnectionClosed:
            pass

    def closed(self) -> None:
        self.closed_at = time.monotonic()
        if self.task is not None:
            self.task.cancel()
