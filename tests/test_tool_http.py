"""An agent's HTTP tool on the wire: the exact signed request to a local receiver (real sockets, real httpx), its
failures as results (timeout, 500, non-JSON, a 5 MB body cut), and the SSRF rule (https, public addresses)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time

import pytest
from asgiref.sync import sync_to_async

from agents.actions import Tool
from agents.tool_targets import checked_tool_addresses
from agents.webhook_targets import pinned
from calls import tool_http
from calls.tool_http import MAX_RESPONSE_BYTES, TOOL_RESULT_CHARS, ToolResult, call_tool, sign
from tests.fakes.tool_receiver import Reply, ToolReceiver

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "tool-secret-1"
NOW = 1700000000


def make_tool(url: str, method: str = "POST", **fields) -> Tool:
    return Tool.objects.create(
        name=fields.pop("name", "order_status"),
        description="Look up an order.",
        parameters={"type": "object", "properties": {"order_id": {"type": "string"}}},
        url=url,
        method=method,
        headers=fields.pop("headers", {"Authorization": "Bearer top-secret-token"}),
        signing_secret=SECRET,
        **fields,
    )


async def run(tool: Tool, arguments: dict, timeout: float = 5.0) -> ToolResult:
    return await call_tool(tool.pk, arguments, call_uuid="CA-tool-1", tool_call_id="call_abc", timeout=timeout)


def expected_signature(payload: str) -> str:
    return hmac.new(SECRET.encode(), f"{NOW}.{payload}".encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def private_allowed(settings, monkeypatch):
    settings.TOOLS_ALLOW_PRIVATE_TARGETS = True
    monkeypatch.setattr(tool_http.time, "time", lambda: NOW + 0.6)


async def test_post_sends_the_arguments_as_json_with_the_signature_headers(private_allowed):
    with ToolReceiver([Reply(body=b'{"status": "shipped", "eta": "Friday"}')]) as receiver:
        tool = await sync_to_async(make_tool)(receiver.url + "?region=eu")
        result = await run(tool, {"order_id": "A-1001", "express": True})
    body = '{"order_id":"A-1001","express":true}'
    [request] = receiver.requests
    assert (request.method, request.path, request.body) == ("POST", "/tools/order_status?region=eu", body.encode())
    headers = request.headers
    assert headers["content-type"] == "application/json"
    assert headers["authorization"] == "Bearer top-secret-token"
    assert (headers["x-timestamp"], headers["x-call-uuid"], headers["x-tool-call-id"]) == (
        str(NOW),
        "CA-tool-1",
        "call_abc",
    )
    assert headers["x-signature"] == expected_signature(body) == sign(SECRET, NOW, body)
    assert result.status == "ok" and result.http_status == 200
    assert (result.body, result.truncated, result.error) == ('{"status": "shipped", "eta": "Friday"}', False, "")
    assert 0 <= result.latency_ms < 5000


async def test_get_sends_the_arguments_in_the_query_string_and_signs_it(private_allowed):
    with ToolReceiver() as receiver:
        tool = await sync_to_async(make_tool)(receiver.url, "GET", headers={"X-Api-Key": "k-1"})
        result = await run(tool, {"order_id": "A 1/2", "items": [1, 2], "gift": False, "note": None})
    query = "order_id=A+1%2F2&items=%5B1%2C2%5D&gift=false&note="
    [request] = receiver.requests
    assert (request.method, request.path, request.body) == ("GET", f"/tools/order_status?{query}", b"")
    assert "content-type" not in request.headers
    assert request.headers["x-api-key"] == "k-1"
    assert request.headers["x-signature"] == expected_signature(query)
    assert result.status == "ok"


async def test_delete_without_arguments_signs_the_empty_payload(private_allowed):
    with ToolReceiver() as receiver:
        tool = await sync_to_async(make_tool)(receiver.url, "DELETE")
        await run(tool, {})
    [request] = receiver.requests
    assert (request.method, request.path, request.headers["x-signature"]) == (
        "DELETE",
        "/tools/order_status",
        expected_signature(""),
    )


async def test_a_slow_tool_times_out_within_its_timeout(private_allowed):
    with ToolReceiver([Reply(delay=10)]) as receiver:
        tool = await sync_to_async(make_tool)(receiver.url)
        started = time.monotonic()
        result = await run(tool, {"order_id": "A-1"}, timeout=0.5)
        elapsed = time.monotonic() - started
    assert (result.status, result.http_status, result.body, result.error) == (
        "timeout",
        None,
        "",
        "no answer within 0.5 s",
    )
    assert elapsed < 1.5  # bounded by the timeout, not by the receiver (a correctness bound, not a speed one)


async def test_an_http_500_is_an_http_error_with_its_body(private_allowed):
    with ToolReceiver([Reply(status=500, body=b'{"error": "database down"}')]) as receiver:
        tool = await sync_to_async(make_tool)(receiver.url)
        result = await run(tool, {"order_id": "A-1"})
    assert (result.status, result.http_status, result.body, result.error) == (
        "http_error",
        500,
        '{"error": "database down"}',
        "HTTP 500",
    )


async def test_a_non_json_answer_is_an_error(private_allowed):
    with ToolReceiver([Reply(body=b"<html>Gateway</html>", content_type="text/html")]) as receiver:
        tool = await sync_to_async(make_tool)(receiver.url)
        result = await run(tool, {"order_id": "A-1"})
    assert (result.status, result.http_status, result.body, result.error) == (
        "error",
        200,
        "<html>Gateway</html>",
        "the response is not JSON",
    )


async def test_an_empty_answer_is_ok(private_allowed):
    with ToolReceiver([Reply(status=204, body=b"")]) as receiver:
        tool = await sync_to_async(make_tool)(receiver.url)
        result = await run(tool, {"order_id": "A-1"})
    assert (result.status, result.http_status, result.body) == ("ok", 204, "")


async def test_a_5_mb_body_is_cut_at_the_bound_not_buffered(private_allowed):
    size = 5 * 1024 * 1024
    with ToolReceiver([Reply(stream_bytes=size)]) as receiver:
        tool = await sync_to_async(make_tool)(receiver.url)
        result = await run(tool, {"order_id": "A-1"})
    assert (result.status, result.http_status, result.truncated) == ("error", 200, True)
    assert result.error == f"the response is larger than {MAX_RESPONSE_BYTES // 1024} KB"
    assert result.body == "x" * TOOL_RESULT_CHARS
    assert receiver.bytes_sent < size  # the client stopped reading: the rest was never sent


async def test_a_long_json_answer_is_truncated_for_the_model(private_allowed):
    payload = json.dumps({"items": ["item"] * 2000}).encode()
    with ToolReceiver([Reply(body=payload)]) as receiver:
        tool = await sync_to_async(make_tool)(receiver.url)
        result = await run(tool, {"order_id": "A-1"})
    assert (result.status, result.truncated, result.body) == ("ok", True, payload.decode()[:TOOL_RESULT_CHARS])


async def test_a_refused_connection_is_an_error_without_secrets(private_allowed):
    with ToolReceiver() as receiver:
        url = receiver.url
    tool = await sync_to_async(make_tool)(url)
    result = await run(tool, {"order_id": "A-1"})
    assert (result.status, result.http_status) == ("error", None)
    assert result.error.startswith("ConnectError")
    assert "top-secret-token" not in result.error


async def test_a_deleted_tool_is_an_error():
    result = await call_tool(987654, {}, call_uuid="CA-1", tool_call_id="c1", timeout=1)
    assert (result.status, result.error) == ("error", "the tool no longer exists")


async def test_a_redirect_is_not_followed(private_allowed):
    with ToolReceiver([Reply(status=302, body=b"")]) as receiver:
        tool = await sync_to_async(make_tool)(receiver.url)
        result = await run(tool, {"order_id": "A-1"})
    assert (result.status, result.http_status, len(receiver.requests)) == ("http_error", 302, 1)


# ---- SSRF: https only, public addresses only, unless TOOLS_ALLOW_PRIVATE_TARGETS ----

PRIVATE = "is a loopback, link-local, private, multicast, reserved or unspecified address: tools call public "
PRIVATE += "addresses only (TOOLS_ALLOW_PRIVATE_TARGETS=1 allows private ones)."


@pytest.mark.parametrize(
    ("url", "error"),
    [
        (
            "http://93.184.216.34/hook",
            "'http://93.184.216.34/hook' is not an https:// URL: tools call https:// only "
            "(TOOLS_ALLOW_PRIVATE_TARGETS=1 allows http:// to private addresses).",
        ),
        ("https://127.0.0.1:8443/tool", f"127.0.0.1 {PRIVATE}"),
        ("https://10.1.2.3/tool", f"10.1.2.3 {PRIVATE}"),
        ("https://169.254.169.254/latest/meta-data/", f"169.254.169.254 {PRIVATE}"),
        ("https://[::1]/tool", f"::1 {PRIVATE}"),
        ("https://localhost/tool", f"localhost (127.0.0.1) {PRIVATE}"),
    ],
)
async def test_unsafe_targets_are_refused_before_any_request(url, error, monkeypatch):
    if "localhost" in url:  # resolve localhost the same on every machine (IPv4 only)
        monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("127.0.0.1", 443))])
    tool = await sync_to_async(make_tool)(url)
    result = await run(tool, {"order_id": "A-1"})
    assert (result.status, result.http_status, result.body, result.error) == ("refused", None, "", error)


def test_the_setting_allows_private_targets_and_plain_http_only_to_them(settings, monkeypatch):
    settings.TOOLS_ALLOW_PRIVATE_TARGETS = True
    assert checked_tool_addresses("http://127.0.0.1:9000/tool") == ["127.0.0.1"]
    assert checked_tool_addresses("https://10.0.0.5/tool") == []
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("93.184.216.34", 80))])
    with pytest.raises(Exception, match="is a public address: plain http:// is allowed to private addresses only"):
        checked_tool_addresses("http://example.com/tool")


def test_a_public_https_target_is_pinned_to_its_checked_address(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("93.184.216.34", 443))])
    assert checked_tool_addresses("https://tools.example.com/order") == ["93.184.216.34"]
    url, host, extensions = pinned("https://tools.example.com/order?x=1", ["93.184.216.34"])
    assert (url, host, extensions) == (
        "https://93.184.216.34/order?x=1",
        {"Host": "tools.example.com"},
        {"sni_hostname": "tools.example.com"},
    )
