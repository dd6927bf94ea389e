"""A JSON client for the REST API tests: keys, requests with a key, and the error shape."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from calls.api_keys import ApiKey, issue_key


def new_key(scope: str = ApiKey.Scope.READ, name: str = "test key") -> str:
    return issue_key(name, scope, None)[1]


class Api:
    """``api.get("/api/v1/calls")`` with ``Authorization: Bearer <key>`` (none when ``key`` is None)."""

    def __init__(self, key: str | None, client: Client | None = None) -> None:
        self.key, self.client = key, client or Client()

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key is not None else {}
        return headers | (extra or {})

    def get(self, path: str, params: dict[str, Any] | None = None, **headers: str):
        return self.client.get(path, params or {}, headers=self.headers(headers))

    def post(self, path: str, body: Any = None, raw: str | None = None, **headers: str):
        data = raw if raw is not None else json.dumps(body)
        return self.client.post(path, data, content_type="application/json", headers=self.headers(headers))

    def request(self, method: str, path: str, **headers: str):
        return getattr(self.client, method.lower())(path, headers=self.headers(headers))


def error(code: str, message: str, fields: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}
