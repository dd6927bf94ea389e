"""“Call a number…”: the Agent admin action and the form it leads to."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from calls.models import Call
from tests.call_factories import make_user
from tests.factories import make_agent
from tests.fakes.plivo_api import FakePlivoApi


@pytest.fixture
def plivo_api(settings):
    with FakePlivoApi() as api:
        settings.PLIVO_AUTH_ID, settings.PLIVO_AUTH_TOKEN = api.auth_id, api.auth_token
        settings.PLIVO_API_URL, settings.PUBLIC_URL = api.url, "https://voice.example.com"
        yield api


@pytest.fixture
def admin_client(client, db):
    client.force_login(User.objects.create_superuser("root", "root@example.com", None))
    return client


@pytest.mark.django_db
def test_admin_action_leads_to_the_form(admin_client):
    agent = make_agent(greeting="Hi {{name}}")
    response = admin_client.post(
        reverse("admin:agents_agent_changelist"), {"action": "call_a_number", "_selected_action": [agent.pk]}
    )
    assert (response.status_code, response["Location"]) == (302, f"/calls/place/{agent.pk}/")
    page = admin_client.get(response["Location"]).content.decode()
    assert "The agent's lines use <code>{{name}}</code>" in page
    assert '<option value="+14155550100">+14155550100 (main)</option>' in page


@pytest.mark.django_db
def test_admin_action_wants_one_agent(admin_client):
    agents = [make_agent(number=None), make_agent(name="Other", number=None)]
    response = admin_client.post(
        reverse("admin:agents_agent_changelist"),
        {"action": "call_a_number", "_selected_action": [a.pk for a in agents]},
        follow=True,
    )
    assert "Select exactly one agent to place a call with." in response.content.decode()


@pytest.mark.django_db
def test_form_places_the_call(admin_client, plivo_api, django_capture_on_commit_callbacks):
    agent = make_agent(greeting="Hi {{name}}")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"/calls/place/{agent.pk}/",
            {"to": "+1 (415) 555-0199", "from_number": "+14155550100", "variables": "name = Ana\n\n"},
        )
    call = Call.objects.get()
    assert (response.status_code, response["Location"]) == (302, f"/calls/{call.pk}/")
    assert (call.to_number, call.variables, call.status) == ("+14155550199", {"name": "Ana"}, "queued")
    assert call.request_uuid == plivo_api.request_uuids[0]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"to": "4155550199", "variables": "name=Ana"}, "has no country code"),
        ({"to": "+14155550199", "variables": ""}, "The agent&#x27;s lines use {{name}}: give it a value"),
        ({"to": "+14155550199", "variables": "just text"}, "Line 1 (&#x27;just text&#x27;): write it as name=value."),
    ],
)
@pytest.mark.django_db
def test_form_shows_what_is_wrong(admin_client, plivo_api, data, error):
    agent = make_agent(greeting="Hi {{name}}")
    response = admin_client.post(f"/calls/place/{agent.pk}/", data)
    assert response.status_code == 200 and error in response.content.decode()
    assert not Call.objects.exists()


@pytest.mark.django_db
def test_viewers_without_permission_may_not_place_calls(client):
    agent = make_agent()
    client.force_login(make_user("viewer", permitted=True, staff=True))
    assert client.get(f"/calls/place/{agent.pk}/").status_code == 403


@pytest.mark.django_db
def test_call_list_filters_by_answered_by(admin_client):
    agent = make_agent()
    machine = Call.objects.create(call_uuid="a", agent=agent, direction="outbound", answered_by="voicemail")
    human = Call.objects.create(call_uuid="b", agent=agent, direction="outbound", answered_by="human")
    page = admin_client.get("/calls/?answered_by=voicemail&direction=outbound").content.decode()
    assert f"/calls/{machine.pk}/" in page and f"/calls/{human.pk}/" not in page


@pytest.mark.django_db
def test_sweeper_fails_calls_that_were_never_dialled(django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from calls.tasks import fail_undialled

    agent = make_agent()
    old = Call.objects.create(call_uuid="queued-1", agent=agent, direction="outbound", status="queued")
    Call.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=1))
    Call.objects.create(call_uuid="queued-2", agent=agent, direction="outbound", status="queued")
    with django_capture_on_commit_callbacks(execute=False):
        assert fail_undialled(timezone.now() - timedelta(minutes=10)) == 1
    old.refresh_from_db()
    assert (old.status, old.hangup_cause) == ("failed", "never-dialled")
    assert Call.objects.get(call_uuid="queued-2").status == "queued"
