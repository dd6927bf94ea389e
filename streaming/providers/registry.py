"""Maps an agent's provider choice to a provider class by dotted path; "auto" picks the real one when configured.

A provider module is imported only when it is chosen, so a process that never uses a vendor never loads its SDK.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from django.conf import settings

from streaming.providers.azure import configured as azure_configured
from streaming.providers.base import Analyzer, LanguageModel, SpeechToText, TextToSpeech
from streaming.providers.config import CallConfig
from streaming.providers.openai.client import configured as openai_configured

STT_CLASSES = {
    "offline": "streaming.providers.offline.stt.PocketsphinxSTT",
    "azure": "streaming.providers.azure.stt.AzureSTT",
}
LLM_CLASSES = {
    "offline": "streaming.providers.offline.responder.OfflineResponder",
    "openai": "streaming.providers.openai.llm.OpenAILLM",
}
TTS_CLASSES = {
    "offline": "streaming.providers.offline.tts.EspeakTTS",
    "azure": "streaming.providers.azure.tts.AzureTTS",
}
ANALYZER_CLASSES = {  # chosen by the agent's language model
    "offline": "streaming.providers.offline.analysis.OfflineAnalyzer",
    "openai": "streaming.providers.openai.analysis.OpenAIAnalyzer",
}


def resolve(choice: str, real: str, configured: bool) -> str:
    """The provider key to use: "auto" means ``real`` when configured, else "offline"."""
    if choice == "auto":
        return real if configured else "offline"
    return choice


def load(dotted: str) -> Callable:
    module, _, attr = dotted.rpartition(".")
    return getattr(import_module(module), attr)


def create_stt(config: CallConfig) -> SpeechToText:
    key = resolve(config.stt_provider, "azure", azure_configured())
    return load(STT_CLASSES[key])(config)


def create_llm(config: CallConfig) -> LanguageModel:
    key = resolve(config.llm_provider, "openai", openai_configured())
    return load(LLM_CLASSES[key])(config)


def create_tts(config: CallConfig) -> TextToSpeech:
    key = resolve(config.tts_provider, "azure", azure_configured())
    return load(TTS_CLASSES[key])(config)


def create_analyzer(config: CallConfig) -> Analyzer:
    """The after-call analyzer of the agent's language model vendor; any choice without one is analysed offline."""
    key = resolve(config.llm_provider, "openai", openai_configured())
    return load(ANALYZER_CLASSES.get(key, ANALYZER_CLASSES["offline"]))(config)


def create_providers(config: CallConfig) -> tuple[SpeechToText, LanguageModel, TextToSpeech]:
    """The default provider factory (settings.VOICE_PROVIDER_FACTORY)."""
    return create_stt(config), create_llm(config), create_tts(config)


def provider_factory() -> Callable[[CallConfig], tuple[SpeechToText, LanguageModel, TextToSpeech]]:
    return load(settings.VOICE_PROVIDER_FACTORY)


DEFAULT_FACTORY = "streaming.providers.registry.create_providers"


def preload() -> list[str]:
    """Import the provider classes "auto" picks, at server start: an SDK's first import takes 0.1–0.5 s, which the
    first caller of every process would otherwise hear as a slow greeting. Returns the dotted paths loaded."""
    if settings.VOICE_PROVIDER_FACTORY != DEFAULT_FACTORY:
        return []
    paths = [
        STT_CLASSES[resolve("auto", "azure", azure_configured())],
        LLM_CLASSES[resolve("auto", "openai", openai_configured())],
        TTS_CLASSES[resolve("auto", "azure", azure_configured())],
    ]
    for path in paths:
        load(path)
    return paths
