"""Tools in the admin: JSON-schema parameters checked on save, https and public URLs only, write-only headers, a
signing secret shown once; transfer destinations and FAQ tool triggers validated on the agent."""

from __future__ import annotations

import json
import socket

import pytest

from agents.actions import Tool, TransferDestination
from agents.models import FaqEntry
from agents.tool_admin import FaqEntryForm, TransferDestinationForm
from tests.factories import make_agent

pytestmark = pytest.mark.django_db
ADD_URL = "/admin/agents/tool/add/"
SCHEMA = {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}
PUBLIC = [(2, 1, 6, "", ("93.184.216.34", 443))]


@pytest.fixture(autouse=True)
def public_dns(monkeypatch):
    """tools.example.com resolves to a public address on every machine (no real DNS in tests)."""
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        return PUBLIC if host == "tools.example.com" else real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def tool_form(**overrides) -> dict:
    form = {
        "name": "order_status",
        "description": "Look up an order by its number.",
        "parameters": json.dumps(SCHEMA),
        "method": "POST",
        "url": "https://tools.example.com/orders",
        "new_headers": '{"Authorization": "Bearer top-secret-token"}',
        "timeout_seconds": "5",
        "wait_line": "Let me check that.",
        "on_failure": "line",
        "failure_line": "Sorry, I can't look that up right now.",
    }
    form.update(overrides)
    return form


def form_errors(response) -> dict:
    assert response.status_code == 200
    return dict(response.context["adminform"].form.errors)


def test_a_tool_is_created_with_its_headers_and_the_secret_is_shown_once(admin_client):
    response = admin_client.post(ADD_URL, tool_form(), follow=True)
    tool = Tool.objects.get()
    assert (tool.parameters, tool.headers, tool.url) == (
        SCHEMA,
        {"Authorization": "Bearer top-secret-token"},
        "https://tools.example.com/orders",
    )
    shown = [str(m) for m in response.context["messages"]]
    assert any(tool.signing_secret in m and "not shown again" in m for m in shown)
    page = admin_client.get(f"/admin/agents/tool/{tool.pk}/change/").content.decode()
    assert "top-secret-token" not in page and tool.signing_secret not in page
    assert "Authorization" in page  # the header's name only
    assert "••••••••••••" + tool.signing_secret[-4:] in page


def test_saving_with_empty_headers_keeps_them_and_a_new_value_replaces_them(admin_client):
    admin_client.post(ADD_URL, tool_form())
    tool = Tool.objects.get()
    secret = tool.signing_secret
    change = f"/admin/agents/tool/{tool.pk}/change/"
    assert admin_client.post(change, tool_form(new_headers="", description="Orders.")).status_code == 302
    tool.refresh_from_db()
    assert (tool.description, tool.headers, tool.signing_secret) == (
        "Orders.",
        {"Authorization": "Bearer top-secret-token"},
        secret,
    )
    admin_client.post(change, tool_form(new_headers="{}", regenerate_secret="on"))
    tool.refresh_from_db()
    assert tool.headers == {} and tool.signing_secret != secret


@pytest.mark.parametrize(
    ("parameters", "error"),
    [
        ("{not json", "Enter a valid JSON."),
        ('{"type": "objekt"}', "Not a valid JSON Schema: 'objekt' is not valid under any of the given schemas"),
        ('{"type": "string"}', 'The parameters must describe an object: add "type": "object" at the top level.'),
        ('{"type": "object", "properties": {"n": {"minimum": "one"}}}', "Not a valid JSON Schema: 'one' is not of"),
        ("[1, 2]", 'The parameters must be a JSON object: a JSON Schema with "type": "object".'),
    ],
)
def test_parameters_must_be_an_object_json_schema(admin_client, parameters, error):
    errors = form_errors(admin_client.post(ADD_URL, tool_form(parameters=parameters)))
    assert errors["parameters"][0].startswith(error), errors
    assert not Tool.objects.exists()


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://tools.example.com/orders", "is not an https:// URL: tools call https:// only"),
        ("https://127.0.0.1/orders", "127.0.0.1 is a loopback, link-local, private"),
        ("https://169.254.169.254/latest/", "169.254.169.254 is a loopback, link-local, private"),
        ("https://[::1]/orders", "::1 is a loopback, link-local, private"),
    ],
)
def test_unsafe_urls_are_refused_on_save(admin_client, url, error):
    errors = form_errors(admin_client.post(ADD_URL, tool_form(url=url)))
    assert error in errors["url"][0]


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ("[]", 'The headers must be a JSON object, e.g. {"Authorization": "Bearer …"}.'),
        ('{"X-Signature": "forged"}', "X-Signature is set by the platform itself; choose another header."),
        ('{"Bad Name": "x"}', "“Bad Name” is not a valid header name."),
        ('{"X-Key": "a\\nb"}', "The value of X-Key must be a single line of text (at most 4000 characters)."),
        ("{", "The headers are not valid JSON: Expecting property name enclosed in double quotes (line 1)."),
    ],
)
def test_bad_headers_are_refused_without_echoing_values(admin_client, headers, error):
    errors = form_errors(admin_client.post(ADD_URL, tool_form(new_headers=headers)))
    assert errors["new_headers"] == [error]


def test_timeout_bounds(admin_client):
    errors = form_errors(admin_client.post(ADD_URL, tool_form(timeout_seconds="60")))
    assert errors["timeout_seconds"] == ["Ensure this value is less than or equal to 30.0."]


def test_transfer_destinations_accept_numbers_and_sip_uris_only():
    agent = make_agent()
    ok = TransferDestinationForm({"name": "sales", "destination": "+1 (415) 555-0123", "warm": "on"})
    assert ok.is_valid(), ok.errors
    assert ok.cleaned_data["destination"] == "+14155550123"
    sip = TransferDestinationForm({"name": "desk", "destination": "sip:desk@pbx.example.com"})
    assert sip.is_valid() and sip.cleaned_data["destination"] == "sip:desk@pbx.example.com"
    bad = TransferDestinationForm({"name": "billing", "destination": "4155550123"})
    assert not bad.is_valid()
    assert "has no country code" in bad.errors["destination"][0]
    bad_sip = TransferDestinationForm({"name": "x", "destination": "sip:nohost"})
    assert bad_sip.errors["destination"] == ["“sip:nohost” is not a SIP URI such as sip:alice@example.com."]
    saved = ok.save(commit=False)
    saved.agent = agent
    saved.save()
    assert TransferDestination.objects.get().as_dict() == {
        "name": "sales",
        "destination": "+14155550123",
        "description": "",
        "warm": True,
    }


def faq_form(tool: Tool | None, pattern: str) -> FaqEntryForm:
    data = {"question": "Where is my order?", "keywords": "order", "answer": "Checking.", "position": "0"}
    data |= {"tool": str(tool.pk) if tool else "", "tool_pattern": pattern}
    return FaqEntryForm(data)


def test_faq_tool_patterns_compile_and_name_the_tools_parameters():
    tool = Tool.objects.create(name="order_status", description="d", parameters=SCHEMA, url="https://x.example")
    assert faq_form(tool, r"order (?P<order_id>\d+)").is_valid()
    assert faq_form(tool, "").is_valid()
    assert (
        faq_form(tool, r"order (?P<order_id>\d+")
        .errors["tool_pattern"][0]
        .startswith("Not a valid regular expression: missing ), unterminated subpattern")
    )
    assert faq_form(tool, r"(?P<order>\d+) (?P<zip>\d{5})").errors["tool_pattern"] == [
        "Named group(s) order, zip are not parameters of order_status (its parameters: order_id)."
    ]
    assert faq_form(None, r"(?P<order_id>\d+)").errors["tool_pattern"] == [
        "A pattern needs a tool: choose the tool its named groups are for."
    ]
    entry = faq_form(tool, r"order (?P<order_id>\d+)").save(commit=False)
    entry.agent = make_agent()
    entry.save()
    assert FaqEntry.objects.get().as_dict()["tool"] == "order_status"


def test_the_agent_form_offers_tools_and_destinations(admin_client):
    agent = make_agent()
    page = admin_client.get(f"/admin/agents/agent/{agent.pk}/change/").content.decode()
    assert 'name="tools"' in page and "transfer_destinations-TOTAL_FORMS" in page
    assert 'name="faq_entries-__prefix__-tool_pattern"' in page
