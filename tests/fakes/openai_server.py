"""A local OpenAI-compatible chat completions server (stdlib HTTP in a background thread).

Usage::

    with OpenAIFake() as fake:
        settings.OPENAI_BASE_URL = fake.base_url          # ends with /v1
        fake.script(ChatScript(content=["Hello", " there."]))
        fake.script(ChatScript(tool_calls=[ScriptedToolCall("end_call", '{"reason": "done"}')]))
        fake.script(ChatScript(status=429))
        ...
        assert fake.requests[-1].body["messages"][0]["role"] == "system"

Scripts are used in order, one per request; then ``fake.default`` answers (for a JSON response format
request with no script: ``{}``). Streaming answers are SSE chunks exactly as OpenAI sends them.

Several kinds of requests at once (e.g. an agent's streamed replies, a simulated caller, sentiment): routes pick
their requests first, in the order they were added::

    fake.route(streamed, answer=lambda body: ChatScript(content=reply_to(last_user_text(body))))
    fake.route(system_contains("playing a caller"), ChatScript(content="Hi."), ChatScript(content="DONE"))

A route with scripts answers the requests it matches with them, in order, until none are left (then the next
route, the general scripts or the default answer); one with ``answer`` answers every request it matches.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ERROR_BODIES = {
    400: ("invalid_request_error", "invalid_request", "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided: sk-fake."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Country not supported."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: ("server_error", None, "The server had an error while processing your request."),
    503: ("server_error", None, "The engine is currently overloaded."),
}


@dataclass
class ScriptedToolCall:
    name: str
    arguments: str  # raw JSON text, streamed in ``fragments`` pieces
    id: str = ""
    fragments: int = 3


@dataclass
class ChatScript:
    """One scripted answer. A ``content`` string is streamed word by word; a list piece by piece."""

    content: str | list[str] = ""
    tool_calls: list[ScriptedToolCall] = field(default_factory=list)
    status: int = 200
    error_code: str | None = None  # overrides the default code for ``status`` (e.g. "insufficient_quota")
    first_token_delay: float = 0.0  # after the response headers
    chunk_delay: float = 0.0
    headers_delay: float = 0.0  # before anything is sent (a server that accepted the request and hangs)
    stall_after_chunks: int | None = None  # send this many SSE chunks, then nothing for ``stall_seconds``
    stall_seconds: float = 0.0
    cut_after_chunks: int | None = None  # drop the connection after this many SSE chunks
    usage: tuple[int, int] = (42, 7)
    finish_reason: str | None = None  # default: "tool_calls" when there are tool calls, else "stop"

    def pieces(self) -> list[str]:
        if isinstance(self.content, list):
            return self.content
        words = self.content.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words)] if self.content else []


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any


@dataclass
class Route:
    """Requests ``match`` selects, answered by ``scripts`` (in order) or else by ``answer``."""

    match: Callable[[dict[str, Any]], bool]
    scripts: deque[ChatScript] = field(default_factory=deque)
    answer: Callable[[dict[str, Any]], ChatScript] | None = None


def streamed(body: dict[str, Any]) -> bool:
    """A streamed request (the live reply; sentiment, analysis and others are not streamed)."""
    return bool(body.get("stream"))


def system_contains(text: str) -> Callable[[dict[str, Any]], bool]:
    """Requests whose first message is a system message containing ``text``."""

    def match(body: dict[str, Any]) -> bool:
        messages = body.get("messages") or [{}]
        first = messages[0] if isinstance(messages[0], dict) else {}
        return first.get("role") == "system" and text in str(first.get("content") or "")

    return match


def last_user_text(body: dict[str, Any]) -> str:
    """The content of the request's last user message ("" if none)."""
    users = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
    return str(users[-1].get("content") or "") if users else ""


def error_body(status: int, code: str | None = None) -> dict[str, Any]:
    kind, default_code, message = ERROR_BODIES.get(status, ("server_error", None, f"HTTP {status}"))
    return {"error": {"message": message, "type": kind, "param": None, "code": code or default_code}}


class OpenAIFake:
    """The fake server; ``requests`` records every request, ``script()`` queues answers."""

    def __init__(self) -> None:
        self.default = ChatScript(content="OK.")
        self.scripts: deque[ChatScript] = deque()
        self.requests: list[RecordedRequest] = []
        self.routes: list[Route] = []
        self.abandoned_streams = 0  # streams the client closed before the end
        self.model_echo = "gpt-4o-mini-2024-07-18"
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="openai-fake", daemon=True
        )
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def script(self, *scripts: ChatScript) -> None:
        self.scripts.extend(scripts)

    def route(
        self,
        match: Callable[[dict[str, Any]], bool],
        *scripts: ChatScript,
        answer: Callable[[dict[str, Any]], ChatScript] | None = None,
    ) -> Route:
        """Answer the requests whose body ``match`` selects with ``scripts`` (in order), or always with ``answer``."""
        added = Route(match, deque(scripts), answer)
        self.routes.append(added)
        return added

    def next_script(self, body: dict[str, Any]) -> ChatScript:
        for route in self.routes:
            if route.scripts and route.match(body):
                return route.scripts.popleft()
            if route.answer is not None and route.match(body):
                return route.answer(body)
        if self.scripts:
            return self.scripts.popleft()
        response_format = (body.get("response_format") or {}).get("type")
        if response_format in ("json_object", "json_schema"):
            return ChatScript(content="{}")
        return self.default

    def start(self) -> OpenAIFake:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> OpenAIFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def completion_id() -> str:
    return "chatcmpl-fake" + str(time.monotonic_ns())


def usage_body(script: ChatScript) -> dict[str, int]:
    prompt, completion_tokens = script.usage
    return {"prompt_tokens": prompt, "completion_tokens": completion_tokens, "total_tokens": prompt + completion_tokens}


def stream_chunks(script: ChatScript, model: str, include_usage: bool) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects OpenAI would stream for this script."""
    base = {"id": completion_id(), "object": "chat.completion.chunk", "created": int(time.time()), "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
    chunks += [chunk({"content": piece}) for piece in script.pieces()]
    for index, call in enumerate(script.tool_calls):
        call_id = call.id or f"call_fake{index}"
        head = {"index": index, "id": call_id, "type": "function", "function": {"name": call.name, "arguments": ""}}
        chunks.append(chunk({"tool_calls": [head]}))
        step = max(1, -(-len(call.arguments) // max(1, call.fragments)))
        for start in range(0, len(call.arguments), step):
            fragment = {"index": index, "function": {"arguments": call.arguments[start : start + step]}}
            chunks.append(chunk({"tool_calls": [fragment]}))
    chunks.append(chunk({}, script.finish_reason or ("tool_calls" if script.tool_calls else "stop")))
    if include_usage:
        for item in chunks:
            item["usage"] = None
        chunks.append({**base, "choices": [], "usage": usage_body(script)})
    return chunks


def completion(script: ChatScript, model: str) -> dict[str, Any]:
    """A non-streamed ``chat.completion`` for this script."""
    message: dict[str, Any] = {"role": "assistant", "content": "".join(script.pieces()) or None, "refusal": None}
    if script.tool_calls:
        message["tool_calls"] = [
            {"id": c.id or f"call_fake{i}", "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for i, c in enumerate(script.tool_calls)
        ]
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": script.finish_reason or ("tool_calls" if script.tool_calls else "stop"),
            }
        ],
        "usage": usage_body(script),
    }


def _handler_for(fake: OpenAIFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def do_GET(self) -> None:
            self.record(None)
            if self.path.rstrip("/").endswith("/models"):
                self.send_json(200, {"object": "list", "data": [{"id": fake.model_echo, "object": "model"}]})
            else:
                self.send_json(404, error_body(404))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                body = raw.decode("utf-8", "replace")
            self.record(body)
            if not self.path.rstrip("/").endswith("/chat/completions") or not isinstance(body, dict):
                self.send_json(404, error_body(404))
                return
            script = fake.next_script(body)
            time.sleep(script.headers_delay)
            if script.status != 200:
                self.send_json(script.status, error_body(script.status, script.error_code))
            elif body.get("stream"):
                self.send_stream(script, body)
            else:
                time.sleep(script.first_token_delay)
                self.send_json(200, completion(script, fake.model_echo))

        def record(self, body: Any) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            fake.requests.append(RecordedRequest(self.command, self.path, headers, body))

        def send_json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def send_stream(self, script: ChatScript, body: dict[str, Any]) -> None:
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            events = [f"data: {json.dumps(c)}\n\n" for c in stream_chunks(script, fake.model_echo, include_usage)]
            events.append("data: [DONE]\n\n")
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                time.sleep(script.first_token_delay)
                for index, event in enumerate(events):
                    if script.cut_after_chunks is not None and index >= script.cut_after_chunks:
                        self.close_connection = True
                        self.connection.shutdown(2)  # no terminating chunk: an incomplete body
                        return
                    if index:
                        time.sleep(script.chunk_delay)
                    if index == script.stall_after_chunks:
                        time.sleep(script.stall_seconds)
                    self.write_chunk(event.encode())
                self.write_chunk(b"")
            except (BrokenPipeError, ConnectionResetError):
                fake.abandoned_streams += 1
                self.close_connection = True

        def write_chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    return Handler
