"""Azure Speech configuration from Django settings, and SDK error classification."""

from __future__ import annotations

import azure.cognitiveservices.speech as speechsdk
from django.conf import settings

from streaming.providers.base import ProviderError

# Retrying with the same key, region or request cannot help.
PERMANENT_ERROR_CODES = frozenset(
    {
        speechsdk.CancellationErrorCode.AuthenticationFailure,
        speechsdk.CancellationErrorCode.Forbidden,
        speechsdk.CancellationErrorCode.BadRequest,
    }
)


def speech_config(provider: str = "azure") -> speechsdk.SpeechConfig:
    """A fresh SpeechConfig: ``AZURE_SPEECH_HOST`` when set (containers, tests), else key + region."""
    host = settings.AZURE_SPEECH_HOST
    key, region = settings.AZURE_SPEECH_KEY, settings.AZURE_SPEECH_REGION
    try:
        if host:
            return speechsdk.SpeechConfig(host=host, subscription=key or "not-needed")
        if key and region:
            return speechsdk.SpeechConfig(subscription=key, region=region)
    except (ValueError, RuntimeError) as exc:
        raise ProviderError(f"invalid Azure Speech configuration: {exc}", provider=provider, permanent=True) from exc
    raise ProviderError(
        "Azure Speech is not configured (set AZURE_SPEECH_KEY and AZURE_SPEECH_REGION, or AZURE_SPEECH_HOST)",
        provider=provider,
        permanent=True,
    )


def cancellation_error(details: object, provider: str) -> ProviderError:
    """A ProviderError for SDK cancellation details (``CancellationDetails`` or the synthesis variant)."""
    code = getattr(details, "code", None) or getattr(details, "error_code", None)
    message = f"{getattr(code, 'name', code)}: {getattr(details, 'error_details', '')}".strip()
    return ProviderError(message, provider=provider, permanent=code in PERMANENT_ERROR_CODES)
