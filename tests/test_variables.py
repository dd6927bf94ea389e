"""{{placeholders}} in an agent's lines, filled from the call's variables (outbound: given; inbound: the call's)."""

from __future__ import annotations

from datetime import datetime

import pytest

from agents.templating import call_variables, fill, fill_lines, find_variables
from calls.config import call_config
from calls.models import Call
from calls.records import _load_call
from tests.factories import make_agent


def test_find_variables():
    assert find_variables("Hi {{name}}, your order {{ order_id }} ships {{when}}. {{name}}!") == {
        "name",
        "order_id",
        "when",
    }
    assert find_variables("No {placeholders} here, nor {{ }} or {{1abc}}.") == set()


def test_fill_replaces_every_placeholder_and_never_leaves_one():
    assert fill("Hi {{name}}, about {{ order_id }}.", {"name": "Ana", "order_id": "1234"}) == "Hi Ana, about 1234."
    assert fill("Hi {{name}}, bye {{missing}}.", {"name": "Ana"}) == "Hi Ana, bye ."
    assert fill("Plain text", {}) == "Plain text"


def test_fill_lines_fills_the_agent_lines_only():
    snapshot = {"greeting": "Hi {{name}}", "goodbye_message": "Bye {{name}}", "voice": "{{name}}"}
    assert fill_lines(snapshot, {"name": "Ana"}) == {
        "greeting": "Hi Ana",
        "goodbye_message": "Bye Ana",
        "voice": "{{name}}",
    }


def test_call_variables_are_the_numbers_and_local_time():
    assert call_variables("+14155550199", "+14155550100", datetime(2026, 3, 2, 9, 5)) == {
        "customer_number": "+14155550199",
        "agent_number": "+14155550100",
        "call_date": "2026-03-02",
        "call_time": "09:05",
        "call_weekday": "Monday",
    }


def test_call_config_fills_the_lines():
    snapshot = {
        "greeting": "Hello {{name}}!",
        "system_prompt": "You call {{name}} about order {{order}}.",
        "goodbye_message": "Goodbye {{name}}.",
        "voicemail_message": "Hi {{name}}, call us back about {{order}}.",
    }
    config = call_config(snapshot, {"name": "Ana", "order": "77"})
    assert (config.greeting, config.system_prompt, config.goodbye_message, config.voicemail_message) == (
        "Hello Ana!",
        "You call Ana about order 77.",
        "Goodbye Ana.",
        "Hi Ana, call us back about 77.",
    )


@pytest.mark.django_db
def test_inbound_call_gets_variables_from_the_answer(client):
    agent = make_agent(greeting="Hello {{caller_number}}, welcome {{customer}}.")
    response = client.post(
        "/plivo/answer/",
        {
            "CallUUID": "in-1",
            "From": "14155550111",
            "To": "14155550100",
            "Direction": "inbound",
            "X-PH-Customer": "Ana",
        },
    )
    assert response.status_code == 200
    call = Call.objects.get(call_uuid="in-1")
    assert call.agent == agent
    assert {k: call.variables[k] for k in ("caller_number", "customer_number", "agent_number", "customer")} == {
        "caller_number": "+14155550111",
        "customer_number": "+14155550111",
        "agent_number": "+14155550100",
        "customer": "Ana",
    }
    assert set(call.variables) >= {"call_date", "call_time", "call_weekday"}
    assert _load_call("in-1").config.greeting == "Hello +14155550111, welcome Ana."
