"""Campaigns in the admin: the CSV upload with its per-row report, a bad file refused, the actions, progress
columns, the rows with their call and extracted fields, the results CSV, and do-not-call numbers."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from agents.models import ExtractionField
from calls.campaign_models import Campaign, CampaignRow, DoNotCall
from calls.models import Call
from tests import campaign_support
from tests.campaign_support import campaign_agent

pytestmark = pytest.mark.django_db
plivo_api = campaign_support.plivo_api


def form(agent, data: bytes, **extra) -> dict:
    return {
        "name": "Survey",
        "agent": agent.pk,
        "from_number": "",
        "csv_file": SimpleUploadedFile("list.csv", data, content_type="text/csv"),
        "window_days": "[0, 1, 2, 3, 4]",
        "window_start": "09:00",
        "window_end": "18:00",
        "timezone": "",
        "max_concurrent": 3,
        "max_attempts": 2,
        "retry_delay_minutes": 60,
        "retry_no_answer": "on",
        **extra,
    }


def test_upload_shows_the_per_row_report_and_the_actions_run(admin_client, plivo_api):
    agent = campaign_agent()
    response = admin_client.post(
        "/admin/calls/campaign/add/", form(agent, b"phone,name\n+14155550150,Ana\nabc,Bo\n"), follow=True
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "2 row(s) read: 1 to call, 1 skipped, 0 duplicate(s). Rows with problems:" in page
    assert "<li>Line 3: abc — “abc” is not a phone number." in page
    campaign = Campaign.objects.get()
    assert list(campaign.rows.values_list("phone", "status")) == [("+14155550150", "pending"), ("abc", "skipped")]
    listing = admin_client.get("/admin/calls/campaign/").content.decode()
    assert "Survey" in listing and "in progress" in listing
    admin_client.post("/admin/calls/campaign/", {"action": "start_campaigns", "_selected_action": [campaign.pk]})
    assert Campaign.objects.get().status == "running"
    response = admin_client.post(
        "/admin/calls/campaign/", {"action": "resume_campaigns", "_selected_action": [campaign.pk]}, follow=True
    )
    assert "Campaign “Survey” is running: it cannot be resumed." in response.content.decode()


def test_a_bad_file_is_refused_in_the_form(admin_client, plivo_api):
    agent = campaign_agent()
    response = admin_client.post("/admin/calls/campaign/add/", form(agent, b"number\n+14155550150\n"))
    assert response.status_code == 200
    assert "The file has no “phone” column" in response.content.decode()
    response = admin_client.post(
        "/admin/calls/campaign/add/", form(agent, b"phone,name\n+14155550150,A\n", window_start="19:00")
    )
    assert "The window must end after it starts" in response.content.decode()
    assert not Campaign.objects.exists()


def test_rows_show_their_call_and_extracted_fields_and_results_download(admin_client, plivo_api):
    agent = campaign_agent()
    ExtractionField.objects.create(agent=agent, name="attending", type="boolean")
    admin_client.post("/admin/calls/campaign/add/", form(agent, b"phone,name\n+14155550150,Ana\n"))
    campaign = Campaign.objects.get()
    call = Call.objects.create(
        call_uuid="c1", direction="outbound", status="completed", to_number="+14155550150",
        extracted_data={"attending": True}, summary="=cmd|' /C calc'!A0",
    )  # fmt: skip
    CampaignRow.objects.filter(campaign=campaign).update(status="done", outcome="reached", attempts=1, last_call=call)
    rows = admin_client.get(f"/admin/calls/campaignrow/?campaign__id__exact={campaign.pk}").content.decode()
    assert "attending" in rows and f'href="/calls/{call.pk}/"' in rows and "reached" in rows
    download = admin_client.get(f"/admin/calls/campaign/{campaign.pk}/results.csv")
    text = b"".join(download.streaming_content).decode()
    header, line = text.splitlines()
    assert header.endswith("summary,var_name,extracted_attending")
    assert line.startswith(f"2,+14155550150,done,reached,1,,,{call.pk},http://testserver/calls/{call.pk}/,completed")
    assert line.endswith(",'=cmd|' /C calc'!A0,Ana,True")


def test_do_not_call_numbers_are_normalized(admin_client):
    response = admin_client.post("/admin/calls/donotcall/add/", {"number": "+1 (415) 555-0177", "reason": "asked"})
    assert response.status_code == 302
    assert DoNotCall.objects.get().number == "+14155550177"
    response = admin_client.post("/admin/calls/donotcall/add/", {"number": "4155550177", "reason": ""})
    assert "has no country code" in response.content.decode()


def test_another_list_uploaded_on_a_campaign_is_added_after_its_rows(admin_client, plivo_api):
    agent = campaign_agent()
    admin_client.post("/admin/calls/campaign/add/", form(agent, b"phone,name\n+14155550150,Ana\n"))
    campaign = Campaign.objects.get()
    response = admin_client.post(
        f"/admin/calls/campaign/{campaign.pk}/change/",
        form(agent, b"phone,name\n+14155550160,Cy\n+14155550150,Ana\n"),
        follow=True,
    )
    page = response.content.decode()
    assert "2 row(s) read: 1 to call, 0 skipped, 1 duplicate(s)." in page
    assert "<li>Line 3: +14155550150 — Already in the campaign (an earlier list): the number is called once." in page
    assert list(campaign.rows.values_list("position", "phone")) == [(2, "+14155550150"), (4, "+14155550160")]
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.COMPLETED)
    response = admin_client.post(
        f"/admin/calls/campaign/{campaign.pk}/change/", form(agent, b"phone,name\n+14155550170,Di\n")
    )
    assert "This campaign is completed: create a new campaign to call more." in response.content.decode()
    assert campaign.rows.count() == 2
