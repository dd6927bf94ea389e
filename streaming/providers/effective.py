"""What will actually run for an agent's provider choices, in words, and which settings that makes moot.

The registry (``registry.resolve``) turns "auto" into the real vendor when its keys are configured, else the offline
engine; this module says the same thing to a person: "STT: offline pocketsphinx — AZURE_SPEECH_KEY not set", and
warns when an agent's setting will be ignored (a system prompt under the offline FAQ engine). Pure: it reads
settings (through ``configured()``), never loads a provider.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings

from streaming.providers.azure import configured as azure_configured
from streaming.providers.openai.client import configured as openai_configured
from streaming.providers.registry import resolve

NAMES = {
    ("stt", "azure"): "Azure Speech speech-to-text",
    ("stt", "offline"): "offline pocketsphinx",
    ("llm", "openai"): "OpenAI-compatible",
    ("llm", "offline"): "offline FAQ engine (no AI)",
    ("tts", "azure"): "Azure Speech neural voice",
    ("tts", "offline"): "offline eSpeak NG",
}
STAGES = (("stt", "STT", "azure"), ("llm", "LLM", "openai"), ("tts", "TTS", "azure"))


@dataclass(frozen=True)
class Stage:
    stage: str  # STT, LLM, TTS
    choice: str  # the agent's setting: auto, azure, openai, offline
    key: str  # what runs: azure, openai, offline
    name: str  # what runs, in words
    why: str  # "" or the reason ("AZURE_SPEECH_KEY not set")

    @property
    def line(self) -> str:
        return f"{self.stage}: {self.name}" + (f" — {self.why}" if self.why else "")


@dataclass(frozen=True)
class Effective:
    stages: list[Stage]
    warnings: list[str] = field(default_factory=list)

    @property
    def analysis_offline(self) -> bool:
        """The after-call analysis follows the language model: offline means the extractive summary."""
        return self.stages[1].key == "offline"


def missing_azure() -> str:
    if not settings.AZURE_SPEECH_KEY and not settings.AZURE_SPEECH_HOST:
        return "AZURE_SPEECH_KEY not set"
    return "AZURE_SPEECH_REGION not set"


def reason(stage: str, choice: str, key: str) -> str:
    if choice != "auto":
        if key == "offline":
            return "chosen on this agent"
        ready = azure_configured() if key == "azure" else openai_configured()
        return "" if ready else f"{missing(stage)}: calls fail"
    if key == "offline":
        return missing(stage)
    return "auto: keys configured"


def missing(stage: str) -> str:
    return "OPENAI_API_KEY not set" if stage == "llm" else missing_azure()


def effective(stt: str, llm: str, tts: str, *, model: str = "", voice: str = "", prompt: str = "") -> Effective:
    """The providers the agent's next call will use, and the warnings for settings they ignore."""
    choices = {"stt": stt, "llm": llm, "tts": tts}
    stages = []
    for stage, label, real in STAGES:
        choice = choices[stage] or "auto"
        configured = azure_configured() if real == "azure" else openai_configured()
        key = resolve(choice, real, configured)
        name = NAMES.get((stage, key), key)
        if stage == "llm" and key == "openai" and model:
            name = f"{name} {model}"
        if stage == "tts" and key == "azure" and voice:
            name = f"{name} {voice}"
        stages.append(Stage(label, choice, key, name, reason(stage, choice, key)))
    warnings = []
    if stages[1].key == "offline":
        ignored = [what for what, value in (("the system prompt", prompt), (f"the model {model}", model)) if value]
        ignored += ["temperature and max tokens"]
        warnings.append(
            "The offline FAQ engine answers from the FAQ entries only: "
            + ", ".join(ignored)
            + " are ignored. After-call summaries are extractive (the caller's own sentences), not written by a model."
        )
    if stages[2].key == "offline" and voice:
        warnings.append(f"The voice {voice} is ignored: the offline eSpeak NG voice follows the language.")
    for step in stages:
        if step.why.endswith("calls fail"):
            warnings.append(f"{step.stage} is set to {step.choice} but {step.why.removesuffix(': calls fail')}: "
                            "its calls will fail. Configure the keys or choose Auto.")  # fmt: skip
    return Effective(stages, warnings)
