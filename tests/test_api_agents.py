"""The REST API's agents: the public configuration, never a secret."""

from __future__ import annotations

import pytest

from agents.models import ExtractionField, Tool, TransferDestination
from tests.api_client import Api, error, new_key
from tests.factories import make_agent

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader() -> Api:
    return Api(new_key())


def agent_with_everything():
    agent = make_agent(
        "Order desk",
        greeting="Hi {{first_name}}, calling about order {{order_id}}.",
        voicemail_message="Call us back, {{first_name}}. Today is {{call_weekday}}.",
        webhook_url="https://crm.example.com/hook?token=abc",
    )
    tool = Tool.objects.create(
        name="order_status",
        description="Looks up an order.",
        parameters={"type": "object", "properties": {"order_id": {"type": "string"}}},
        url="https://erp.example.com/orders",
        headers={"Authorization": "Bearer erp-secret"},
    )
    agent.tools.add(tool)
    ExtractionField.objects.create(agent=agent, name="email", type="email", description="their e-mail")
    TransferDestination.objects.create(agent=agent, name="sales", destination="+14155550300", description="Buying")
    agent.refresh_from_db()
    return agent, tool


def test_one_agent_without_secrets(reader: Api) -> None:
    agent, tool = agent_with_everything()
    for ref in (agent.pk, "order-desk"):
        response = reader.get(f"/api/v1/agents/{ref}")
        assert response.status_code == 200
        body = response.json()
        assert (body["id"], body["slug"], body["name"], body["version"]) == (
            agent.pk,
            "order-desk",
            "Order desk",
            agent.version,
        )
        assert body["variables"] == ["first_name", "order_id"]  # built-ins (call_weekday) are filled in anyway
        assert body["phone_numbers"] == [{"number": "+14155550100", "label": "main", "enabled": True}]
        assert body["tools"] == [
            {
                "name": "order_status",
                "description": "Looks up an order.",
                "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
            }
        ]
        assert body["extraction_fields"] == [{"name": "email", "type": "email", "description": "their e-mail"}]
        assert body["transfer_destinations"] == [
            {"name": "sales", "destination": "+14155550300", "description": "Buying", "warm": True}
        ]
        assert body["webhook_configured"] is True
        assert body["end_call_phrases"] == ["goodbye", "bye bye", "that's all"]
        text = response.text
        for secret in (agent.webhook_secret, tool.signing_secret, "erp-secret", "token=abc", "erp.example.com"):
            assert secret not in text


def test_the_agent_list(reader: Api) -> None:
    agent_with_everything()
    make_agent("Billing", number="+14155550200", enabled=False)
    response = reader.get("/api/v1/agents")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(a["name"], a["enabled"]) for a in results] == [("Billing", False), ("Order desk", True)]
    assert "webhook_secret" not in response.text


def test_an_unknown_agent_is_a_404(reader: Api) -> None:
    response = reader.get("/api/v1/agents/nobody")
    assert response.status_code == 404
    assert response.json() == error("not_found", "No agent with the id or slug “nobody”.")
