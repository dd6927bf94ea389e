"""The one place that knows how to reach the configured OpenAI-compatible server.

No SDK import here: the registry asks ``configured()`` without loading the OpenAI SDK, and callers pass the SDK
client class they need (``openai.AsyncOpenAI`` for the live reply, ``openai.OpenAI`` for the after-call analysis).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.conf import settings

Client = TypeVar("Client")


def configured() -> bool:
    """Whether an OpenAI-compatible server is configured: an API key, or a base URL (a local server needs no key)."""
    return bool(settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL)


def create_client(client_class: Callable[..., Client], *, timeout: float, max_retries: int) -> Client:
    """A ``client_class`` (``openai.OpenAI`` or ``openai.AsyncOpenAI``) for the server in the settings."""
    return client_class(
        api_key=settings.OPENAI_API_KEY or "not-needed",
        base_url=settings.OPENAI_BASE_URL or None,
        max_retries=max_retries,
        timeout=timeout,
    )
