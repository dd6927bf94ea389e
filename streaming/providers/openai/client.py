"""The one place that knows how to reach the configured OpenAI-compatible server.

No SDK import here: the registry asks ``configured()`` without loading the OpenAI SDK, and callers pass the SDK
client class they need (``openai.AsyncOpenAI`` for the live reply, ``openai.OpenAI`` for the after-call analysis).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

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


_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, Any]] = weakref.WeakKeyDictionary()


def shared_client(client_class: Callable[..., Client], *, timeout: float, max_retries: int) -> Client:
    """One ``client_class`` per event loop and server settings, shared by every call of the process.

    Creating a client builds a TLS context (~25 ms of CPU): once per call, that delayed every greeting and cost
    CPU under load. Its HTTP connection pool is shared too (keep-alive to the server across calls). Never close
    it from a call. Must be called with the event loop running (the client's connections belong to that loop).
    """
    per_loop = _SHARED.setdefault(asyncio.get_running_loop(), {})
    key = (client_class, settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL, timeout, max_retries)
    if key not in per_loop:
        per_loop[key] = create_client(client_class, timeout=timeout, max_retries=max_retries)
    return per_loop[key]
