"""A local receiver for agents' HTTP tools: stdlib HTTP in a background thread, any method, scripted replies
(status, body, content type, a delay, a huge streamed body), every request recorded (method, path with query,
lower-cased headers, body)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    body: bytes = b'{"ok": true}'
    content_type: str = "application/json"
    delay: float = 0.0  # seconds before answering (cut short when the receiver stops)
    stream_bytes: int = 0  # > 0: send this many bytes of "x" in 64 KiB chunks instead of ``body``


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ToolReceiver:
    """Answers each request with the Reply for its X-Tool-Call-Id in ``by_tool_call`` (parallel requests arrive in
    any order), else the next scripted Reply (then the default Reply)."""

    def __init__(self, replies: list[Reply] | None = None, by_tool_call: dict[str, Reply] | None = None) -> None:
        self.replies = deque(replies or [])
        self.by_tool_call = dict(by_tool_call or {})
        self.requests: list[Received] = []
        self.stopping = threading.Event()
        self.bytes_sent = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append(Received(self.command, self.path, headers, body))
                reply = receiver.by_tool_call.get(headers.get("x-tool-call-id", ""))
                if reply is None:
                    reply = receiver.replies.popleft() if receiver.replies else Reply()
                if reply.delay and receiver.stopping.wait(reply.delay):
                    return
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                size = reply.stream_bytes or len(reply.body)
                self.send_header("Content-Length", str(size))
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    if not reply.stream_bytes:
                        self.wfile.write(reply.body)
                        receiver.bytes_sent += len(reply.body)
                        return
                    chunk, sent = b"x" * 65536, 0
                    while sent < size and not receiver.stopping.is_set():
                        part = chunk[: size - sent]
                        self.wfile.write(part)
                        sent += len(part)
                        receiver.bytes_sent += len(part)
                except OSError:  # the client stopped reading (that is the point of a bounded read)
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

            def log_message(self, *args) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/tools/order_status"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> ToolReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
