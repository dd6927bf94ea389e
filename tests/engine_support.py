"""Scripted providers wired into the engine through settings.VOICE_PROVIDER_FACTORY."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from streaming.providers.base import AgentSpec
from streaming.providers.scripted import ScriptedLLM, ScriptedSTT, ScriptedTTS, echo_reply


@dataclass
class Scripted:
    transcripts: list[str] = field(default_factory=list)
    replies: object = echo_reply
    stt_final_ms: int = 300
    llm_first_token_ms: int = 30
    tokens_per_s: float = 200
    tts_first_audio_ms: int = 10
    ms_per_char: int = 10
    tts_fail: Exception | None = None
    created: list[tuple[ScriptedSTT, ScriptedLLM, ScriptedTTS]] = field(default_factory=list)

    def __call__(self, spec: AgentSpec) -> tuple[ScriptedSTT, ScriptedLLM, ScriptedTTS]:
        providers = (
            ScriptedSTT(spec, self.transcripts, final_ms=self.stt_final_ms),
            ScriptedLLM(spec, self.replies, first_token_ms=self.llm_first_token_ms, tokens_per_s=self.tokens_per_s),
            ScriptedTTS(spec, first_audio_ms=self.tts_first_audio_ms, ms_per_char=self.ms_per_char, fail=self.tts_fail),
        )
        self.created.append(providers)
        return providers

    @property
    def llm(self) -> ScriptedLLM:
        return self.created[0][1]

    @property
    def tts(self) -> ScriptedTTS:
        return self.created[0][2]


CURRENT: list[Scripted] = []


def factory(spec: AgentSpec):
    return CURRENT[-1](spec)


@pytest.fixture
def scripted(settings):
    CURRENT.append(Scripted())
    settings.VOICE_PROVIDER_FACTORY = "tests.engine_support.factory"
    yield CURRENT[-1]
    CURRENT.pop()
