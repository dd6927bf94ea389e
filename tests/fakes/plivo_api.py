"""A local Plivo REST API: enough of /v1/Account/{id}/Call/… for hang-ups and transfers, recording requests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class FakePlivoApi:
    def __init__(self, auth_id: str = "MAFAKEFAKEFAKEFAKE01", auth_token: str = "fake-token") -> None:
        self.auth_id, self.auth_token = auth_id, auth_token
        self.requests: list[dict] = []
        self.ended: set[str] = set()
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
        if call_uuid in self.ended:
            return 404, {"error": "call not found"}
        if method == "DELETE":
            self.ended.add(call_uuid)
            return 204, None
        if method == "POST":
            return 202, {"api_id": "fake", "message": "call transferred"}
        return 405, {"error": "method not allowed"}

    def __enter__(self) -> FakePlivoApi:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
