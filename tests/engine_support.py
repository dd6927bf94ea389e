"""Scripted providers wired into the engine through settings.VOICE_PROVIDER_FACTORY."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from streaming.providers.config import CallConfig
from tests.fakes.scripted import ScriptedLLM, ScriptedSTT, ScriptedTTS, echo_reply


@dataclass
class Scripted:
    transcripts: list[str] = field(default_factory=list)
    replies: object = echo_reply
    stt_final_ms: int = 300
    stt_word_ms: int = 300
    llm_first_token_ms: int = 30
    tokens_per_s: float = 200
    tts_first_audio_ms: int = 10
    ms_per_char: int = 10
    tts_fail: Exception | None = None
    created: list[tuple[ScriptedSTT, ScriptedLLM, ScriptedTTS]] = field(default_factory=list)

    def __call__(self, config: CallConfig) -> tuple[ScriptedSTT, ScriptedLLM, ScriptedTTS]:
        providers = (
            ScriptedSTT(config, self.transcripts, final_ms=self.stt_final_ms, word_ms=self.stt_word_ms),
            ScriptedLLM(config, self.replies, first_token_ms=self.llm_first_token_ms, tokens_per_s=self.tokens_per_s),
            ScriptedTTS(
                config, first_audio_ms=self.tts_first_audio_ms, ms_per_char=self.ms_per_char, fail=self.tts_fail
            ),
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


def factory(config: CallConfig):
    return CURRENT[-1](config)


@pytest.fixture
def scripted(settings):
    CURRENT.append(Scripted())
    settings.VOICE_PROVIDER_FACTORY = "tests.engine_support.factory"
    yield CURRENT[-1]
    CURRENT.pop()
