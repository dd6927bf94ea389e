"""OpenAI (or any OpenAI-compatible server) chat completions, streamed: text deltas, tool calls, usage."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import httpx2
import openai

from streaming.providers.base import (
    Conversation,
    LanguageModel,
    ProviderError,
    ReplyEvent,
    TextDelta,
    ToolCall,
    Usage,
)
from streaming.providers.config import CallConfig
from streaming.providers.openai.client import shared_client
from streaming.providers.openai.tools import END_CALL_TOOL, build_chat, tool_request_options, tools_for

logger = logging.getLogger(__name__)

PERMANENT_STATUSES = frozenset({400, 401, 403, 404})
PERMANENT_ERROR_CODES = frozenset({"insufficient_quota", "invalid_api_key", "model_not_found"})
__all__ = ["END_CALL_TOOL", "OpenAILLM", "build_messages", "system_message", "tools_for"]


def system_message(conversation: Conversation) -> str:
    """The agent's prompt, its FAQ knowledge and what we know about this call, as one system message."""
    config = conversation.config
    sections = [config.system_prompt.strip()]
    if config.faq:
        pairs = "\n\n".join(f"Q: {entry.question}\nA: {entry.answer}" for entry in config.faq)
        sections.append(f"Knowledge base (answer from it when it applies):\n{pairs}")
    context = []
    if conversation.caller_number:
        context.append(f"- Caller's phone number: {conversation.caller_number}")
    if conversation.local_time is not None:
        context.append(f"- Local date and time: {conversation.local_time.strftime('%A %d %B %Y, %H:%M %Z').strip()}")
    if conversation.previous_summary and not config.memory:
        context.append(f"- Summary of this caller's previous call: {conversation.previous_summary}")
    if context:
        sections.append("Call context:\n" + "\n".join(context))
    if config.memory:
        remembered = "\n".join(f"- {line}" for line in config.memory)
        sections.append(f"What you remember about this caller from earlier calls (use it naturally):\n{remembered}")
    return "\n\n".join(s for s in sections if s)


def build_messages(conversation: Conversation) -> list[dict[str, Any]]:
    system = system_message(conversation)
    return ([{"role": "system", "content": system}] if system else []) + build_chat(conversation.messages)


def parse_arguments(raw: str) -> dict[str, Any]:
    """Tool arguments as a dict; malformed JSON (it happens) becomes ``{}``."""
    try:
        value = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError:
        logger.warning("OpenAI tool call with malformed arguments: %r", raw[:200])
        return {}
    return value if isinstance(value, dict) else {}


def _carries_output(chunk: Any) -> bool:
    """Whether a chunk carries generated output (the first one is often just the role)."""
    return any(c.delta.content or c.delta.tool_calls or c.finish_reason for c in chunk.choices)


class _ToolCallAssembler:
    """Accumulates streamed tool-call deltas by index."""

    def __init__(self) -> None:
        self.calls: dict[int, dict[str, str]] = {}

    def add(self, delta: Any) -> None:
        call = self.calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
        call["id"] = call["id"] or (delta.id or "")
        if delta.function is not None:
            call["name"] = call["name"] or (delta.function.name or "")
            call["arguments"] += delta.function.arguments or ""

    def finish(self) -> list[ToolCall]:
        calls = [self.calls[i] for i in sorted(self.calls) if self.calls[i]["name"]]
        self.calls = {}
        return [ToolCall(c["id"], c["name"], parse_arguments(c["arguments"])) for c in calls]


class OpenAILLM(LanguageModel):
    """Streams replies; every failure (timeout, HTTP error, cut stream) becomes a ProviderError."""

    name = "openai"
    first_token_timeout = 4.0  # seconds from the request to the first streamed event
    request_timeout = 15.0  # connect / between-chunks timeout of the HTTP client
    max_retries = 0  # a phone caller cannot wait for retries; the engine speaks a fallback line

    def __init__(self, config: CallConfig) -> None:
        self.config = config
        self.last_first_token_ms: float | None = None

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The process's client for this event loop (created at the first request, not with the call)."""
        return shared_client(openai.AsyncOpenAI, timeout=self.request_timeout, max_retries=self.max_retries)

    def request(self, conversation: Conversation) -> dict[str, Any]:
        """The chat completion request for this conversation."""
        config = conversation.config
        return {
            "model": config.llm_model,
            "messages": build_messages(conversation),
            "temperature": config.temperature,
            "max_tokens": config.max_tokens,
            **tool_request_options(conversation),
            "stream": True,
            "stream_options": {"include_usage": True},
        }

    async def reply(self, conversation: Conversation) -> AsyncIterator[ReplyEvent]:
        try:
            async with contextlib.aclosing(self._stream(conversation)) as events:  # closing releases the HTTP stream
                async for event in events:
                    yield event
        except ProviderError:
            raise
        except TimeoutError as exc:
            raise ProviderError("no reply from the language model in time", provider=self.name) from exc
        except openai.APIStatusError as exc:
            raise self._status_error(exc) from exc
        except (openai.OpenAIError, httpx2.HTTPError, httpx2.StreamError) as exc:
            raise ProviderError(f"language model request failed: {exc!r}", provider=self.name) from exc

    async def close(self) -> None:
        """Nothing of the call's own to release: the HTTP client is shared by the process's calls."""

    # --- internals ---------------------------------------------------------------------------------

    async def _stream(self, conversation: Conversation) -> AsyncGenerator[ReplyEvent, None]:
        started = time.monotonic()
        tool_calls, usage, finished = _ToolCallAssembler(), None, False
        async with asyncio.timeout(self.first_token_timeout) as first_token_timer:
            stream = await self.client.chat.completions.create(**self.request(conversation))
            async with stream:
                async for chunk in stream:
                    if first_token_timer.when() is not None and _carries_output(chunk):
                        first_token_timer.reschedule(None)  # before any yield: never fires in the consumer
                        self.last_first_token_ms = (time.monotonic() - started) * 1000
                    if chunk.usage is not None:
                        usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                    for choice in chunk.choices:
                        if choice.delta.content:
                            yield TextDelta(choice.delta.content)
                        for delta in choice.delta.tool_calls or ():
                            tool_calls.add(delta)
                        if choice.finish_reason is not None:
                            finished = True
                            for call in tool_calls.finish():
                                yield call
        if not finished:
            raise ProviderError("the reply stream ended before it was complete", provider=self.name)
        if usage is not None:
            yield usage

    def _status_error(self, exc: openai.APIStatusError) -> ProviderError:
        code = exc.code if isinstance(exc.code, str) else ""
        permanent = exc.status_code in PERMANENT_STATUSES or code in PERMANENT_ERROR_CODES
        message = f"language model HTTP {exc.status_code}: {exc.message}"
        return ProviderError(message, provider=self.name, permanent=permanent)
