"""Drafts: with drafts on, edits wait in the draft; calls run the published version (test numbers run the draft)
until "publish"; inbound, outbound and the admin's pages agree."""

from __future__ import annotations

import pytest

from agents.models import Agent, PhoneNumber
from agents.versioning import call_snapshot, draft_differs, publish
from calls.models import Call
from calls.outbound import place_call
from tests.admin_forms import change_form
from tests.factories import add_faq, make_agent

pytestmark = pytest.mark.django_db

ANSWER = "/plivo/answer/"
TEST_NUMBER = "+14155550222"


def answer(client, uuid: str, to: str = "14155550100") -> Call:
    response = client.post(ANSWER, {"CallUUID": uuid, "From": "14155550111", "To": to, "Direction": "inbound"})
    assert response.status_code == 200 and b"<Stream" in response.content
    return Call.objects.get(call_uuid=uuid)


@pytest.fixture
def agent() -> Agent:
    """Drafts on from the start: version 1 is published; version 2 (a new greeting and FAQ) is the draft."""
    agent = make_agent(drafts=True, greeting="Hello from version one.")
    PhoneNumber.objects.create(number=TEST_NUMBER, agent=agent, label="test", takes_draft=True)
    agent.greeting = "Hello from the draft."
    agent.save()
    add_faq(agent, "Hours?", "hours", "Nine to five.")
    agent.bump_version()
    return agent


def test_a_new_agent_with_drafts_publishes_its_first_version():
    agent = make_agent(drafts=True)
    assert agent.published_version == agent.versions.get(number=1)
    assert not draft_differs(agent)


def test_calls_run_the_published_version_while_the_draft_differs(client, agent):
    assert (agent.version, agent.published_version.number, draft_differs(agent)) == (3, 1, True)
    call = answer(client, "live")
    assert (call.agent_version, call.agent_snapshot["greeting"], call.agent_snapshot["faq"]) == (
        1,
        "Hello from version one.",
        [],
    )
    assert call.agent_snapshot == agent.versions.get(number=1).snapshot


def test_a_test_number_runs_the_draft(client, agent):
    call = answer(client, "draft", to=TEST_NUMBER.lstrip("+"))
    assert (call.agent_version, call.agent_snapshot["greeting"]) == (3, "Hello from the draft.")
    assert [f["question"] for f in call.agent_snapshot["faq"]] == ["Hours?"]
    assert call.agent_snapshot == agent.versions.get(number=3).snapshot


def test_call_snapshot_is_the_contract_for_every_caller(agent):
    assert call_snapshot(agent) == (agent.versions.get(number=1).snapshot, 1)
    assert call_snapshot(agent, draft=True) == (agent.versions.get(number=3).snapshot, 3)
    agent.drafts = False
    agent.save()
    assert call_snapshot(agent) == (agent.versions.get(number=3).snapshot, 3)


def test_publish_from_the_agent_page_makes_the_draft_live(client, admin_client, agent):
    page = admin_client.get(f"/admin/agents/agent/{agent.pk}/change/").content.decode()
    assert "<strong>Draft differs from published.</strong>" in page
    assert "Calls run version 1; the draft is version 3 (test numbers run it)." in page
    assert f'href="/admin/agents/agent/{agent.pk}/versions/compare/?old=1&amp;new=3"' in page

    response = admin_client.post(f"/admin/agents/agent/{agent.pk}/publish/")
    assert response.status_code == 302 and response.url == f"/admin/agents/agent/{agent.pk}/change/"
    assert [str(m) for m in response.wsgi_request._messages] == ["Published version 3: the next calls run it."]
    agent.refresh_from_db()
    assert (agent.published_version.number, draft_differs(agent)) == (3, False)
    assert answer(client, "after").agent_snapshot["greeting"] == "Hello from the draft."
    page = admin_client.get(f"/admin/agents/agent/{agent.pk}/change/").content.decode()
    assert "Draft differs" not in page and "Calls run version 3 (published; the draft is the same)." in page


def test_publishing_an_older_version_rolls_calls_back_and_keeps_the_draft(client, admin_client, agent):
    publish(agent)
    response = admin_client.post(f"/admin/agents/agent/{agent.pk}/publish/", {"number": "1"})
    assert response.url == f"/admin/agents/agent/{agent.pk}/versions/"
    agent.refresh_from_db()
    assert (agent.published_version.number, agent.version) == (1, 3)
    assert answer(client, "rolled-back").agent_version == 1
    assert admin_client.post(f"/admin/agents/agent/{agent.pk}/publish/", {"number": "9"}).status_code == 404


def test_an_admin_edit_goes_to_the_draft_and_says_so(client, admin_client, agent):
    url = f"/admin/agents/agent/{agent.pk}/change/"
    response = admin_client.post(url, change_form(admin_client, url, greeting="Hello from draft two."))
    assert response.status_code == 302
    assert [str(m) for m in response.wsgi_request._messages] == [
        "Saved as the draft, version 4: calls still run version 1 until you publish it (test numbers run the draft).",
        f'The agent “<a href="/admin/agents/agent/{agent.pk}/change/">Test agent</a>” was changed successfully.',
    ]
    assert answer(client, "live").agent_snapshot["greeting"] == "Hello from version one."
    assert answer(client, "test", to=TEST_NUMBER.lstrip("+")).agent_snapshot["greeting"] == "Hello from draft two."


def test_turning_drafts_on_keeps_calls_on_the_version_they_ran(client):
    agent = make_agent(greeting="Live greeting.")
    agent.drafts, agent.greeting = True, "Draft greeting."
    agent.save()
    assert (agent.published_version.number, agent.version) == (1, 2)
    assert answer(client, "c1").agent_snapshot["greeting"] == "Live greeting."


def test_turning_drafts_off_makes_the_latest_version_live(client, agent):
    agent.drafts = False
    agent.save()
    agent.refresh_from_db()
    assert (agent.published_version, agent.version) == (None, 3)
    assert answer(client, "c1").agent_snapshot["greeting"] == "Hello from the draft."


def test_publish_with_drafts_off_explains(admin_client):
    agent = make_agent()
    response = admin_client.post(f"/admin/agents/agent/{agent.pk}/publish/")
    assert [str(m) for m in response.wsgi_request._messages] == [
        "This agent has drafts off: every saved change already takes the next call."
    ]


def test_restore_with_drafts_on_goes_to_the_draft(client, admin_client, agent):
    response = admin_client.post(f"/admin/agents/agent/{agent.pk}/versions/1/restore/")
    assert [str(m) for m in response.wsgi_request._messages] == [
        "Restored version 1 as the draft (publish it to let calls run it): it is now version 4."
    ]
    agent.refresh_from_db()
    assert (agent.published_version.number, agent.version) == (1, 4)
    assert answer(client, "c1").agent_version == 1


def test_outbound_calls_run_the_published_version_or_the_draft(settings, agent):
    settings.PLIVO_AUTH_ID, settings.PLIVO_AUTH_TOKEN = "MAXXXXXXXXXXXXXXXXXX", "token"
    settings.PUBLIC_URL = "https://voice.example.com"
    live = place_call(agent, "+14155550199", from_number="+14155550100")
    draft = place_call(agent, "+14155550199", from_number="+14155550100", draft=True)
    from_test_number = place_call(agent, "+14155550199", from_number=TEST_NUMBER)
    assert (live.agent_version, live.agent_snapshot["greeting"]) == (1, "Hello from version one.")
    assert (draft.agent_version, draft.agent_snapshot["greeting"]) == (3, "Hello from the draft.")
    assert from_test_number.agent_version == 3


def test_the_agent_page_turns_drafts_on(client, admin_client):
    agent = make_agent(greeting="Live greeting.")
    url = f"/admin/agents/agent/{agent.pk}/change/"
    form = change_form(admin_client, url, drafts="on", greeting="Draft greeting.")
    assert admin_client.post(url, form).status_code == 302
    agent.refresh_from_db()
    assert (agent.drafts, agent.published_version.number, agent.version) == (True, 1, 2)
    assert answer(client, "c1").agent_snapshot["greeting"] == "Live greeting."


def test_turning_drafts_on_and_off_alone_in_the_admin(admin_client):
    agent = make_agent()
    url = f"/admin/agents/agent/{agent.pk}/change/"
    assert admin_client.post(url, change_form(admin_client, url, drafts="on")).status_code == 302
    agent.refresh_from_db()
    assert (agent.published_version.number, agent.version) == (1, 1)
    form = change_form(admin_client, url)
    del form["drafts"]
    assert admin_client.post(url, form).status_code == 302
    agent.refresh_from_db()
    assert (agent.drafts, agent.published_version, agent.version) == (False, None, 1)
