"""A local Plivo REST API: enough of /v1/Account/{id}/Call/… for placing calls, hang-ups and transfers, recording
requests. ``POST …/Call/`` answers like Plivo (201, "call fired", a ``request_uuid``); ``create_status`` /
``create_error`` make it refuse (e.g. 400 with an error) instead."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class FakePlivoApi:
    def __init__(self, auth_id: str = "MAFAKEFAKEFAKEFAKE01", auth_token: str = "fake-token") -> None:
        self.auth_id, self.auth_token = auth_id, auth_token
        self.requests: list[dict] = []
        self.ended: set[str] = set()
        self.request_uuids: list[str] = []  # of the calls placed, in order
        self.create_status, self.create_error = 201, ""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                parsed = json.loads(body) if body.startswith("{") else parse_qs(body)
                fake.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "body": parsed,
                        "authorization": self.headers.get("Authorization", ""),
                    }
                )
                status, payload = fake.respond(self.command, self.path)
                data = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def respond(self, method: str, path: str) -> tuple[int, dict | None]:
        prefix = f"/v1/Account/{self.auth_id}/Call/"
        if not path.startswith(prefix):
            return 404, {"error": "not found"}
        call_uuid = path[len(prefix) :].strip("/")
        if method == "POST" and not call_uuid:
            return self.create_call()
        if call_uuid in self.ended:
            return 404, {"error": "call not found"}
        if method == "DELETE":
            self.ended.add(call_uuid)
            return 204, None
        if method == "POST":
            return 202, {"api_id": "fake", "message": "call transferred"}
        return 405, {"error": "method not allowed"}

    def create_call(self) -> tuple[int, dict]:
        if self.create_status >= 400:
            return self.create_status, {"api_id": "fake", "error": self.create_error or "invalid request"}
        request_uuid = str(uuid.uuid4())
        self.request_uuids.append(request_uuid)
        return 201, {"api_id": str(uuid.uuid4()), "message": "call fired", "request_uuid": request_uuid}

    def created(self) -> list[dict]:
        """The bodies of the calls.create requests, in order."""
        return [r["body"] for r in self.requests if r["method"] == "POST" and r["path"].rstrip("/").endswith("/Call")]

    def __enter__(self) -> FakePlivoApi:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
