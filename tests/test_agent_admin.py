"""Operators configure agents and numbers in the admin, with clear validation messages."""

from __future__ import annotations

import pytest

from agents.models import Agent, PhoneNumber
from tests.factories import add_faq, make_agent

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/agents/agent/add/"


def agent_form(**overrides) -> dict:
    form = {
        "name": "Support line",
        "slug": "",
        "enabled": "on",
        "system_prompt": "Be brief.",
        "greeting": "Hi there!",
        "goodbye_message": "Bye!",
        "language": "en-US",
        "voice": "en-US-JennyNeural",
        "speaking_rate": "1.0",
        "llm_model": "gpt-4o-mini",
        "temperature": "0.5",
        "max_tokens": "200",
        "stt_provider": "auto",
        "llm_provider": "offline",
        "tts_provider": "auto",
        "end_of_speech_ms": "600",
        "barge_in_enabled": "on",
        "interruption_mode": "resume",
        "barge_in_min_speech_ms": "250",
        "preemptive_reply": "on",
        "silence_timeout_seconds": "8",
        "reprompt_text": "Still there?",
        "max_reprompts": "2",
        "fallback_line": "Sorry, say that again?",
        "end_call_phrases": "goodbye",
        "max_call_seconds": "600",
        "transfer_number": "",
        "transfer_line": "One moment.",
        "summary_instructions": "",
        "webhook_url": "",
        "webhook_secret": "s3cret",
        "memory_depth": "3",
        "ring_timeout_seconds": "30",
        "voicemail_action": "message",
        "voicemail_message": "Sorry we missed you.",
    }
    for prefix, rows in (
        ("phone_numbers", [{"number": "+14155550123", "label": "Main", "enabled": "on"}]),
        ("faq_entries", []),
        ("extraction_fields", []),
        ("transfer_destinations", []),
    ):
        form.update(
            {
                f"{prefix}-TOTAL_FORMS": str(len(rows)),
                f"{prefix}-INITIAL_FORMS": "0",
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "1000",
            }
        )
        for i, row in enumerate(rows):
            form.update({f"{prefix}-{i}-{k}": v for k, v in row.items()})
    form.update(overrides)
    return form


def test_staff_creates_agent_with_number(admin_client):
    response = admin_client.post(ADD_URL, agent_form())
    assert response.status_code == 302, response.context["adminform"].errors if response.context else response
    agent = Agent.objects.get()
    assert (agent.name, agent.slug, agent.temperature, agent.version) == ("Support line", "support-line", 0.5, 1)
    assert list(agent.phone_numbers.values_list("number", "label")) == [("+14155550123", "Main")]


def errors_of(response) -> dict:
    assert response.status_code == 200
    errors = dict(response.context["adminform"].form.errors)
    for formset in response.context["inline_admin_formsets"]:
        for i, form_errors in enumerate(formset.formset.errors):
            errors.update({f"{formset.formset.prefix}-{i}-{k}": v for k, v in form_errors.items()})
    return {k: list(v) for k, v in errors.items()}


def test_bad_e164_number_shows_the_error(admin_client):
    response = admin_client.post(ADD_URL, agent_form(**{"phone_numbers-0-number": "555-0100"}))
    assert errors_of(response) == {
        "phone_numbers-0-number": [
            "“555-0100” has no country code: start with + and the country code, e.g. +1 415 555 0100."
        ]
    }
    assert Agent.objects.count() == 0


def test_temperature_out_of_range_and_bad_language(admin_client):
    response = admin_client.post(ADD_URL, agent_form(temperature="2.5", language="english"))
    assert errors_of(response) == {
        "temperature": ["Ensure this value is less than or equal to 2.0."],
        "language": ["english is not a BCP-47 language tag such as en-US or fr-FR."],
    }


@pytest.mark.parametrize(
    ("url", "name"),
    [("http://169.254.169.254/latest/meta-data/", "169.254.169.254"), ("https://10.0.0.1/hook", "10.0.0.1")],
)
def test_private_webhook_url_is_refused(admin_client, url, name):
    errors = errors_of(admin_client.post(ADD_URL, agent_form(webhook_url=url)))
    assert errors == {
        "webhook_url": [
            f"{name} is a loopback, link-local, private, multicast, reserved or unspecified address: webhooks go "
            "to public addresses only (WEBHOOK_ALLOW_PRIVATE_TARGETS=1 allows private ones)."
        ]
    }
    assert Agent.objects.count() == 0


def test_private_webhook_url_is_accepted_when_allowed(admin_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    response = admin_client.post(ADD_URL, agent_form(webhook_url="http://10.0.0.1/hook"))
    assert response.status_code == 302
    assert Agent.objects.get().webhook_url == "http://10.0.0.1/hook"


def test_number_already_used_is_refused(admin_client):
    make_agent(number="+14155550123")
    response = admin_client.post(ADD_URL, agent_form(name="Second"))
    assert errors_of(response) == {"phone_numbers-0-number": ["This number is already assigned to an agent."]}
    assert PhoneNumber.objects.count() == 1


def test_non_staff_cannot_reach_admin(client, django_user_model):
    user = django_user_model.objects.create_user("plain", password="pw-123456789")
    client.force_login(user)
    response = client.get(ADD_URL)
    assert response.status_code == 302
    assert response.url.startswith("/admin/login/")


def test_duplicate_action_copies_knowledge_without_numbers(admin_client):
    agent = make_agent()
    add_faq(agent, "Hours?", "hours, open", "Nine to five.")
    response = admin_client.post("/admin/agents/agent/", {"action": "duplicate_agents", "_selected_action": [agent.pk]})
    assert response.status_code == 302
    copy = Agent.objects.exclude(pk=agent.pk).get()
    assert (copy.name, copy.enabled, copy.slug, copy.version) == ("Test agent (copy)", False, "test-agent-copy", 1)
    assert [e.as_dict() for e in copy.faq_entries.all()] == [
        {"question": "Hours?", "keywords": ["hours", "open"], "answer": "Nine to five.", "tool": "", "tool_pattern": ""}
    ]
    assert copy.phone_numbers.count() == 0
    assert copy.webhook_secret != agent.webhook_secret


def test_editing_faq_inline_bumps_version(admin_client):
    agent = make_agent(number=None)
    form = agent_form(
        name=agent.name,
        slug=agent.slug,
        **{
            "phone_numbers-TOTAL_FORMS": "0",
            "faq_entries-TOTAL_FORMS": "1",
            "faq_entries-0-question": "Hours?",
            "faq_entries-0-keywords": "hours",
            "faq_entries-0-answer": "9-5",
            "faq_entries-0-position": "0",
        },
    )
    response = admin_client.post(f"/admin/agents/agent/{agent.pk}/change/", form)
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.version == 2  # one admin save (the form's fields and the FAQ inline) is one new version
    assert list(agent.versions.values_list("number", flat=True)) == [2, 1]
    assert agent.snapshot()["faq"] == [
        {"question": "Hours?", "keywords": ["hours"], "answer": "9-5", "tool": "", "tool_pattern": ""}
    ]


def test_the_agent_list_shows_what_runs_not_the_raw_choices(admin_client, settings):
    make_agent(llm_model="gpt-4o-mini")  # providers on "auto", and no keys: the offline engines run
    page = admin_client.get("/admin/agents/agent/").content.decode()
    assert "STT offline pocketsphinx · LLM offline FAQ engine (no AI) · TTS offline eSpeak NG" in page
    settings.OPENAI_API_KEY = "sk-test"
    page = admin_client.get("/admin/agents/agent/").content.decode()
    assert "LLM OpenAI-compatible gpt-4o-mini" in page
