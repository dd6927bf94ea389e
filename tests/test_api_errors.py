"""The REST API's errors are JSON with a code and a message (404, 405, 429, 503, 500), its schema is a valid
OpenAPI document, and its docs page works offline."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.db import OperationalError
from django.test import Client
from openapi_spec_validator import validate

from calls.api import views
from calls.api_keys import ApiKey
from tests.api_client import Api, error, new_key
from tests.factories import make_agent

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader() -> Api:
    return Api(new_key(ApiKey.Scope.READ))


@pytest.mark.parametrize(
    "path", ["/api/", "/api/v2/calls", "/api/v1/", "/api/v1/nothing", "/api/v1/calls/abc", "/api/v1/calls/1/x"]
)
def test_unknown_urls_are_json_404s(reader: Api, path: str) -> None:
    for api in (reader, Api(None)):
        response = api.get(path)
        assert (response.status_code, response["Content-Type"]) == (404, "application/json")
        assert response.json() == error("not_found", f"No API endpoint at {path}. See /api/v1/docs.")


def test_a_wrong_method_is_a_json_405(reader: Api) -> None:
    make_agent()
    for method, path in [("DELETE", "/api/v1/calls/1"), ("PUT", "/api/v1/agents"), ("POST", "/api/v1/agents/1")]:
        response = reader.request(method, path)
        assert response.status_code == 405, path
        assert response.json() == error("method_not_allowed", f'Method "{method}" not allowed.')
    assert reader.request("PATCH", "/api/v1/calls")["Allow"] == "GET, POST, HEAD, OPTIONS"


def test_too_many_requests_per_key_get_a_429_with_retry_after(settings) -> None:
    settings.API_RATE_READ, settings.API_RATE_CALL = "3/min", "1/min"
    busy, other = Api(new_key(ApiKey.Scope.CALL)), Api(new_key())
    assert [busy.get("/api/v1/agents").status_code for _ in range(3)] == [200, 200, 200]
    refused = busy.get("/api/v1/calls")
    assert refused.status_code == 429
    assert refused["Retry-After"] == "60"
    assert refused.json() == error("rate_limited", "Request was throttled. Expected available in 60 seconds.")
    assert other.get("/api/v1/agents").status_code == 200  # per key
    # placing calls has its own budget: the read budget is spent, the call budget is not (yet)
    first = busy.post("/api/v1/calls", {"agent": "nobody", "to": "+14155550199"})
    assert first.json()["error"]["code"] == "unknown_agent"
    assert busy.post("/api/v1/calls", {"agent": "nobody", "to": "+14155550199"}).status_code == 429


def test_a_database_error_is_a_json_503(reader: Api, monkeypatch) -> None:
    def down(*args, **kwargs):
        raise OperationalError("connection pool exhausted")

    monkeypatch.setattr(views, "filter_calls", down)
    response = reader.get("/api/v1/calls")
    assert (response.status_code, response["Retry-After"]) == (503, "1")
    assert response.json() == error("database_unavailable", "The database is temporarily unavailable; retry later.")


def test_an_unexpected_error_is_still_json(reader: Api, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(views, "filter_calls", broken)
    response = reader.get("/api/v1/calls")
    assert response.status_code == 500
    assert response.json() == error("internal_error", "Something went wrong on our side; the error is logged.")


def test_the_schema_is_valid_openapi() -> None:
    client = Client()
    as_json = client.get("/api/v1/schema", {"format": "json"})
    assert as_json.status_code == 200  # no key needed
    schema = as_json.json()
    validate(schema)
    by_accept = client.get("/api/v1/schema", headers={"Accept": "application/vnd.oai.openapi+json"})
    assert by_accept.json() == schema
    assert client.get("/api/v1/schema").content.startswith(b"openapi: 3")  # YAML by default
    assert sorted(schema["paths"]) == [
        "/api/v1/agents",
        "/api/v1/agents/{ref}",
        "/api/v1/calls",
        "/api/v1/calls/{id}",
        "/api/v1/calls/{id}/recording",
        "/api/v1/campaigns",
        "/api/v1/campaigns/{id}",
        "/api/v1/campaigns/{id}/cancel",
        "/api/v1/campaigns/{id}/pause",
        "/api/v1/campaigns/{id}/results",
        "/api/v1/campaigns/{id}/resume",
        "/api/v1/campaigns/{id}/rows",
        "/api/v1/campaigns/{id}/start",
    ]
    assert sorted(schema["paths"]["/api/v1/calls"]) == ["get", "post"]
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    place = schema["components"]["schemas"]["PlaceCallRequest"]
    assert sorted(place["properties"]) == ["agent", "from", "to", "variables"]
    assert place["required"] == ["agent", "to"]
    assert "429" in schema["paths"]["/api/v1/calls"]["post"]["responses"]
    agent = schema["components"]["schemas"]["Agent"]["properties"]
    assert "webhook_secret" not in agent and "webhook_url" not in agent


def test_the_docs_page_works_offline() -> None:
    response = Client().get("/api/v1/docs")
    assert response.status_code == 200
    page = response.text
    assert "/api/v1/schema" in page
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and not [url for url in assets if url.startswith(("http:", "https:", "//"))]
    local = [url for url in assets if url.startswith("/static/")]
    assert local
    for url in local:
        assert finders.find(url.removeprefix("/static/")), url
