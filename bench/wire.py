"""``--providers wire``: the local Azure Speech and OpenAI fakes (tests/fakes) with the scripted latencies."""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
from collections.abc import Iterator
from multiprocessing.connection import Connection

from bench.metrics import Latency
from streaming.simulator.audio_source import caller_audio
from tests.fakes.azure_speech import SPEECH_ENERGY, AzureSpeechFake
from tests.fakes.azure_usp import frame_energy
from tests.fakes.openai_server import ChatScript, OpenAIFake
from tests.fakes.scripted import ScriptedTTS, echo_text

TTS_CHUNK_MS = 100


def reply_text(phrase: str) -> str:
    """What the scripted LLM would answer to ``phrase`` (the fakes answer every turn with it)."""
    return echo_text(phrase)


@functools.lru_cache(maxsize=16)
def stt_early_ms(phrase: str) -> int:
    """How much earlier the Azure fake hears the end of ``phrase`` than the simulator marks it (its speech test is
    mean |sample| > 1000, the simulator's RMS > 300): the fake's final comes that much sooner after "speech end"."""
    audio = caller_audio(phrase)
    voiced = [
        i for i in range(len(audio.ulaw) // 160) if frame_energy(audio.ulaw[i * 160 : i * 160 + 160]) > SPEECH_ENERGY
    ]
    return (audio.end_frame - (voiced[-1] + 1)) * 20 if voiced else 0


@functools.lru_cache(maxsize=64)
def tone_audio(text: str) -> bytes:
    """The scripted TTS's audio for ``text`` (a tone, 60 ms per character), computed once per text."""
    return ScriptedTTS().audio_for(text)


def serve_fakes(latency: Latency, phrase: str, pipe: Connection, transcripts: tuple[str, ...] = ()) -> None:
    """Run both fakes in this (child) process until the parent sends anything; sends it their environment first.

    STT: each call's utterances are recognized as ``transcripts`` in turn (cycling; every one as ``phrase`` when
    none are given); the final comes after the segmentation silence the adapter asks for (the agent's
    end_of_speech_ms) plus ``latency.stt_ms`` (the endpoint delay: the service deciding the caller is done).
    LLM: the scripted reply, first content
    token after ``llm_ms`` (the fake sends a role chunk first, one token gap earlier), then ``tokens_per_s``.
    TTS: first audio ``tts_ms`` after the SSML, then 100 ms chunks in real time, like the scripted TTS.
    """
    gap = 1 / latency.tokens_per_s if latency.tokens_per_s else 0.0
    azure, openai = AzureSpeechFake(), OpenAIFake()
    azure.stt_default = phrase
    azure.stt_cycle = list(transcripts)
    azure.final_delay_ms = latency.stt_ms
    azure.audio_for = tone_audio
    azure.tts_first_byte_delay = latency.tts_ms / 1000
    azure.tts_chunk_bytes = 8 * TTS_CHUNK_MS
    azure.tts_chunk_delay = TTS_CHUNK_MS / 1000
    openai.default = ChatScript(
        content=reply_text(phrase), first_token_delay=max(0.0, latency.llm_ms / 1000 - gap), chunk_delay=gap
    )
    with azure, openai:
        pipe.send(
            {
                "AZURE_SPEECH_HOST": azure.url,
                "AZURE_SPEECH_KEY": "bench-key",
                "OPENAI_BASE_URL": openai.base_url,
                "OPENAI_API_KEY": "sk-bench",
            }
        )
        pipe.recv()


@contextlib.contextmanager
def wire_fakes(latency: Latency, phrase: str, transcripts: tuple[str, ...] = ()) -> Iterator[dict[str, str]]:
    """The fakes in their own process (their threads would otherwise share the load generator's GIL and delay
    what it measures); yields the server environment that points the real SDK adapters at them."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(
        target=serve_fakes, args=(latency, phrase, child, transcripts), name="wire-fakes", daemon=True
    )
    process.start()
    try:
        if not parent.poll(60):
            raise RuntimeError("the wire fakes did not start in 60 s")
        yield parent.recv()
    finally:
        with contextlib.suppress(OSError):
            parent.send("stop")
        process.join(15)
        if process.is_alive():
            process.kill()
            process.join(5)
