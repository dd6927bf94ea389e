"""Azure Speech: streaming speech-to-text (``stt``) and text-to-speech (``tts``) for telephone μ-law.

This module imports no SDK, so the registry can ask ``configured()`` without loading the Azure Speech SDK.
"""

from __future__ import annotations

from django.conf import settings


def configured() -> bool:
    """Whether Azure Speech has credentials: a host (containers, tests), or a key and a region."""
    return bool(settings.AZURE_SPEECH_HOST or (settings.AZURE_SPEECH_KEY and settings.AZURE_SPEECH_REGION))
