"""Phone numbers entered by people: normalized to E.164 with ``phonenumbers``; no country code is refused."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from agents.admin import AgentForm, PhoneNumberForm
from agents.models import Agent, PhoneNumber
from agents.phone import is_sip_uri, normalize_phone
from tests.factories import make_agent


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+1 (415) 555-0199", "+14155550199"),
        ("+14155550199", "+14155550199"),
        ("  +1 415.555.0199 ", "+14155550199"),
        ("+44 20 7946 0958", "+442079460958"),
        ("0044 20 7946 0958", "+442079460958"),
        ("+49 30 901820", "+4930901820"),
    ],
)
def test_numbers_become_e164(raw, e164):
    assert normalize_phone(raw) == e164


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("4155550100", "“4155550100” has no country code: start with + and the country code, e.g. +1 415 555 0100."),
        ("(415) 555-0100", "“(415) 555-0100” has no country code: start with + and the country code, e.g. +1 415 555 0100."),  # noqa: E501
        ("+1 415 555 01", "“+1 415 555 01” is not a valid phone number for its country code (+1). Check the digits, e.g. +1 415 555 0100."),  # noqa: E501
        ("call me", "“call me” is not a phone number. Write it with its country code, e.g. +1 415 555 0100."),
        ("", "Enter a phone number with its country code, e.g. +1 415 555 0100."),
        ("+" + "1" * 70, "That is too long for a phone number (at most 64 characters)."),
    ],
)  # fmt: skip
def test_bad_numbers_are_refused_with_a_clear_message(raw, message):
    with pytest.raises(ValidationError) as caught:
        normalize_phone(raw)
    assert caught.value.code == "invalid_phone"
    assert caught.value.messages == [message]


def test_sip_uris_are_told_apart():
    assert is_sip_uri("sip:alice@example.com") and is_sip_uri("bob@pbx.example.com")
    assert not is_sip_uri("+14155550100")


@pytest.mark.django_db
def test_phone_number_form_stores_e164():
    agent = make_agent(number=None)
    data = {"number": "+1 (415) 555-0199", "label": "main", "agent": agent.pk, "enabled": "on", "mode": "agent"}
    data |= {"listen_timeout_seconds": 30, "listen_no_answer": "hangup", "listen_voicemail_message": "Sorry."}
    form = PhoneNumberForm(data)
    assert form.is_valid(), form.errors
    form.save()
    assert list(PhoneNumber.objects.values_list("number", flat=True)) == ["+14155550199"]


@pytest.mark.django_db
def test_phone_number_form_refuses_a_number_without_country_code():
    agent = make_agent(number=None)
    form = PhoneNumberForm({"number": "4155550100", "agent": agent.pk, "enabled": "on"})
    assert not form.is_valid()
    assert form.errors["number"] == [
        "“4155550100” has no country code: start with + and the country code, e.g. +1 415 555 0100."
    ]
    assert not PhoneNumber.objects.exists()


@pytest.mark.django_db
def test_phone_number_form_reports_a_duplicate_after_normalizing():
    agent = make_agent(number="+14155550199")
    form = PhoneNumberForm({"number": "+1 415-555-0199", "agent": agent.pk, "enabled": "on"})
    assert not form.is_valid()
    assert form.errors["number"] == ["This number is already assigned to an agent."]


@pytest.mark.django_db
def test_agent_transfer_number_is_normalized():
    agent = make_agent(number=None)
    data = {k: v for k, v in Agent.objects.filter(pk=agent.pk).values()[0].items() if v is not None}
    data["transfer_number"] = "+1 (415) 555-0123"
    data["end_call_phrases"] = "goodbye"
    form = AgentForm(data, instance=agent)
    form.is_valid()
    assert "transfer_number" not in form.errors
    assert form.cleaned_data["transfer_number"] == "+14155550123"
    form = AgentForm(data | {"transfer_number": "4155550123"}, instance=agent)
    assert not form.is_valid() and "country code" in form.errors["transfer_number"][0]
