"""One HTTP request of an agent's tool during a call: signed, pinned to a checked public address, bounded in time
and size; never raises (only ``CancelledError`` gets through).

The request: POST/PUT/PATCH send the arguments as a JSON body; GET/DELETE send them in the query string. Headers:
the tool's own, then ``X-Timestamp`` (Unix seconds), ``X-Signature`` (hex HMAC-SHA256 with the tool's signing
secret over ``"<timestamp>.<payload>"`` where the payload is the JSON body, or for GET/DELETE the query string
without its "?"), ``X-Call-UUID`` and ``X-Tool-Call-Id`` (the same id on a retried request: the receiver
de-duplicates on it). At most ``MAX_RESPONSE_BYTES`` of the response are read; the language model gets at most
``TOOL_RESULT_CHARS`` characters of it.
"""

from __future__ import annotations

import asyncio
import codecs
import functools
import hashlib
import hmac
import json
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

from agents.actions import Tool
from agents.tool_targets import UnresolvableTarget, WebhookTargetError, checked_tool_addresses
from agents.webhook_targets import pinned
from calls.records import on_db_threads

log = logging.getLogger(__name__)

TOOL_RESULT_CHARS = 4000
MAX_RESPONSE_BYTES = 64 * 1024  # read at most this much; a bigger response is cut (and is not valid JSON)
USER_AGENT = "voice-agents-tool/1"
QUERY_METHODS = {"GET", "DELETE"}
ERROR_CHARS = 200


@dataclass(frozen=True)
class ToolResult:
    status: str  # "ok" | "http_error" | "timeout" | "refused" | "error"
    http_status: int | None
    body: str  # response text, truncated for the LLM (at most TOOL_RESULT_CHARS chars)
    truncated: bool
    latency_ms: int
    error: str  # a short human-readable reason, "" when ok; never contains header values/secrets

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "http_status": self.http_status,
            "body": self.body,
            "truncated": self.truncated,
            "latency_ms": self.latency_ms,
            "error": self.error,
        }


@dataclass(frozen=True)
class ToolTarget:
    """What a request needs from the Tool row (read from the database, never from the call's snapshot)."""

    name: str
    url: str
    method: str
    headers: dict[str, str]
    signing_secret: str


def _load_target(tool_id: int) -> ToolTarget | None:
    tool = Tool.objects.filter(pk=tool_id).first()
    if tool is None:
        return None
    headers = tool.headers if isinstance(tool.headers, dict) else {}
    return ToolTarget(
        name=tool.name,
        url=tool.url,
        method=tool.method,
        headers={str(k): str(v) for k, v in headers.items()},
        signing_secret=tool.signing_secret,
    )


load_target = on_db_threads(_load_target)


def sign(secret: str, timestamp: int, payload: str) -> str:
    """The ``X-Signature`` value: hex HMAC-SHA256 of ``"<timestamp>.<payload>"``."""
    return hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()


def query_value(value: Any) -> str:
    """A query-string value: strings as they are, booleans as true/false, null as "", the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def request_parts(method: str, url: str, arguments: dict[str, Any]) -> tuple[str, str, bytes | None]:
    """(URL with any query, the signed payload, the body or None)."""
    if method in QUERY_METHODS:
        query = urlencode([(str(k), query_value(v)) for k, v in arguments.items()])
        if not query:
            return url, "", None
        parts = urlsplit(url)
        full = f"{parts.query}&{query}" if parts.query else query
        return urlunsplit(parts._replace(query=full)), query, None
    body = json.dumps(arguments, separators=(",", ":"), ensure_ascii=False)
    return url, body, body.encode()


async def read_bounded(response: httpx.Response, limit: int = MAX_RESPONSE_BYTES) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of the body, and whether there was more (the rest is never read)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """One verifying TLS context per process (loading the CA bundle costs tens of milliseconds)."""
    return httpx.create_ssl_context()


def charset(response: httpx.Response) -> str:
    name = response.charset_encoding or "utf-8"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "utf-8"


def reason(exc: httpx.HTTPError) -> str:
    """Why the request failed, for the transcript: network errors with their message, the rest by type only (a
    protocol error's message may quote a header value)."""
    if isinstance(exc, httpx.NetworkError) and str(exc):
        return short(f"{type(exc).__name__}: {exc}")
    return type(exc).__name__


def short(text: str) -> str:
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


async def _send(
    target: ToolTarget, arguments: dict[str, Any], call_uuid: str, tool_call_id: str, started: float
) -> ToolResult:
    try:
        addresses = await asyncio.to_thread(checked_tool_addresses, target.url)
    except UnresolvableTarget as exc:
        return ToolResult("error", None, "", False, _elapsed_ms(started), short(str(exc)))
    except WebhookTargetError as exc:
        return ToolResult("refused", None, "", False, _elapsed_ms(started), short(str(exc)))
    url, payload, body = request_parts(target.method, target.url, arguments)
    url, host, extensions = pinned(url, addresses)
    timestamp = int(time.time())
    headers = {
        "User-Agent": USER_AGENT,
        "Accept": "application/json",
        **target.headers,
        **host,
        "X-Timestamp": str(timestamp),
        "X-Signature": sign(target.signing_secret, timestamp, payload),
        "X-Call-UUID": call_uuid,
        "X-Tool-Call-Id": tool_call_id,
    }
    if body is not None:
        headers["Content-Type"] = "application/json"
    async with httpx.AsyncClient(verify=ssl_context(), follow_redirects=False, trust_env=False) as client:
        request = client.build_request(target.method, url, content=body, headers=headers, extensions=extensions)
        response = await client.send(request, stream=True)
        try:
            raw, cut = await read_bounded(response)
        finally:
            await response.aclose()
    latency = _elapsed_ms(started)
    text = raw.decode(charset(response), errors="replace")
    truncated = cut or len(text) > TOOL_RESULT_CHARS
    shown = text[:TOOL_RESULT_CHARS]
    if not 200 <= response.status_code < 300:
        return ToolResult("http_error", response.status_code, shown, truncated, latency, f"HTTP {response.status_code}")
    if cut:
        error = f"the response is larger than {MAX_RESPONSE_BYTES // 1024} KB"
        return ToolResult("error", response.status_code, shown, True, latency, error)
    try:
        json.loads(text) if text.strip() else None
    except ValueError:
        return ToolResult("error", response.status_code, shown, truncated, latency, "the response is not JSON")
    return ToolResult("ok", response.status_code, shown, truncated, latency, "")


async def call_tool(tool_id: int, arguments: dict, *, call_uuid: str, tool_call_id: str, timeout: float) -> ToolResult:
    """Run the tool's request with ``timeout`` seconds in all (address check, connect, send, read). Never raises
    but ``CancelledError``: every failure is a ToolResult whose ``error`` says why."""
    started = time.monotonic()
    try:
        target = await load_target(tool_id)
    except Exception as exc:  # the database may be down; the call goes on
        log.warning("tool %s could not be loaded: %s", tool_id, type(exc).__name__)
        return ToolResult("error", None, "", False, _elapsed_ms(started), "the tool could not be loaded")
    if target is None:
        return ToolResult("error", None, "", False, _elapsed_ms(started), "the tool no longer exists")
    if not isinstance(arguments, dict):
        return ToolResult("error", None, "", False, _elapsed_ms(started), "the arguments are not a JSON object")
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            return await _send(target, arguments, call_uuid, tool_call_id, started)
    except TimeoutError:
        return ToolResult("timeout", None, "", False, _elapsed_ms(started), f"no answer within {timeout:g} s")
    except httpx.HTTPError as exc:
        why = reason(exc)
        log.info("tool %s (%s) failed: %s", target.name, call_uuid, why)
        return ToolResult("error", None, "", False, _elapsed_ms(started), why)
    except Exception as exc:  # a tool never takes the call down
        log.warning("tool %s (%s) failed unexpectedly: %s", target.name, call_uuid, type(exc).__name__)
        return ToolResult("error", None, "", False, _elapsed_ms(started), type(exc).__name__)
