"""Maps an agent's provider choice to a provider class; "auto" picks the real one when configured."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from django.conf import settings

from streaming.providers.base import AgentSpec, LanguageModel, SpeechToText, TextToSpeech

STT_CLASSES = {
    "offline": "streaming.providers.offline_stt.PocketsphinxSTT",
    "azure": "streaming.providers.azure_stt.AzureSTT",
}
LLM_CLASSES = {
    "offline": "streaming.providers.offline_llm.OfflineResponder",
    "openai": "streaming.providers.openai_llm.OpenAILLM",
}
TTS_CLASSES = {
    "offline": "streaming.providers.offline_tts.EspeakTTS",
    "azure": "streaming.providers.azure_tts.AzureTTS",
}


def azure_configured() -> bool:
    return bool(settings.AZURE_SPEECH_HOST or (settings.AZURE_SPEECH_KEY and settings.AZURE_SPEECH_REGION))


def openai_configured() -> bool:
    return bool(settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL)


def resolve(choice: str, real: str, configured: bool) -> str:
    """The provider key to use: "auto" means ``real`` when configured, else "offline"."""
    if choice == "auto":
        return real if configured else "offline"
    return choice


def load(dotted: str) -> Callable:
    module, _, attr = dotted.rpartition(".")
    return getattr(import_module(module), attr)


def create_stt(spec: AgentSpec) -> SpeechToText:
    key = resolve(spec.stt_provider, "azure", azure_configured())
    return load(STT_CLASSES[key])(spec)


def create_llm(spec: AgentSpec) -> LanguageModel:
    key = resolve(spec.llm_provider, "openai", openai_configured())
    return load(LLM_CLASSES[key])(spec)


def create_tts(spec: AgentSpec) -> TextToSpeech:
    key = resolve(spec.tts_provider, "azure", azure_configured())
    return load(TTS_CLASSES[key])(spec)


def create_providers(spec: AgentSpec) -> tuple[SpeechToText, LanguageModel, TextToSpeech]:
    """The default provider factory (settings.VOICE_PROVIDER_FACTORY)."""
    return create_stt(spec), create_llm(spec), create_tts(spec)


def provider_factory() -> Callable[[AgentSpec], tuple[SpeechToText, LanguageModel, TextToSpeech]]:
    return load(settings.VOICE_PROVIDER_FACTORY)
