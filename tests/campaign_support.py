"""Campaign tests' shared setup: the Plivo REST fake, a campaign from CSV text, ticks at a frozen time, and
Plivo's webhooks ending a campaign call (answered by a person or a machine, not answered, busy)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest

from calls.campaign_models import Campaign, CampaignRow
from calls.campaigns import tick as ticks
from calls.campaigns.csv_import import import_csv
from calls.models import Call
from tests.factories import make_agent
from tests.fakes.plivo_api import FakePlivoApi
from tests.plivo_signing import plivo_signature

PUBLIC = "https://voice.example.com"


@pytest.fixture
def plivo_api(settings):
    with FakePlivoApi() as api:
        settings.PLIVO_AUTH_ID, settings.PLIVO_AUTH_TOKEN = api.auth_id, api.auth_token
        settings.PLIVO_API_URL, settings.PUBLIC_URL = api.url, PUBLIC
        settings.CAMPAIGN_MAX_CALLS = 0
        yield api


@pytest.fixture
def no_finalize(monkeypatch):
    """The after-call analysis is not what these tests look at: finalize_call is not run."""
    from calls.tasks import finalize_call

    monkeypatch.setattr(finalize_call, "delay", lambda *args, **kwargs: None)


def campaign_agent():
    return make_agent(greeting="Hi {{name}}, a reminder from Example Co.")


def numbers(count: int, first: int = 150) -> list[str]:
    return [f"+1415555{n:04d}" for n in range(first, first + count)]


def csv_of(phones: list[str]) -> bytes:
    return ("phone,name\n" + "".join(f"{p},Person {i}\n" for i, p in enumerate(phones, start=1))).encode()


def make_campaign(phones: list[str], **fields) -> Campaign:
    campaign = Campaign.objects.create(name="Reminders", agent=fields.pop("agent", None) or campaign_agent(), **fields)
    import_csv(campaign, csv_of(phones))
    return campaign


def run_tick(capture, now: datetime) -> dict[int, int]:
    with capture(execute=True):
        return ticks.tick(now)


def per_number(api: FakePlivoApi) -> Counter:
    """calls.create requests per called number (E.164)."""
    return Counter("+" + body["to"] for body in api.created())


def calling() -> list[CampaignRow]:
    return list(CampaignRow.objects.filter(status=CampaignRow.Status.CALLING).select_related("last_call"))


class Plivo:
    """Posts Plivo's webhooks for campaign calls, signed with the fake's token."""

    def __init__(self, client, token: str, capture) -> None:
        self.client, self.token, self.capture, self.nonce = client, token, capture, 0

    def post(self, path: str, params: dict[str, str]):
        self.nonce += 1
        headers = plivo_signature("POST", PUBLIC + path, params, self.token, nonce=f"n{self.nonce}")
        with self.capture(execute=True):
            response = self.client.post(path, params, headers=headers)
        assert response.status_code == 200, response.content
        return response

    def params(self, call: Call, **extra: str) -> dict[str, str]:
        uuid = f"plivo-{call.pk}"
        return {
            "CallUUID": uuid,
            "From": call.from_number.lstrip("+"),
            "To": call.to_number.lstrip("+"),
            "Direction": "outbound",
            "RequestUUID": call.request_uuid,
            "ALegRequestUUID": call.request_uuid,
            "ALegUUID": uuid,
            **extra,
        }

    def end(self, call: Call, how: str) -> None:
        """``how``: reached, voicemail, no-answer, busy, failed."""
        if how in ("reached", "voicemail"):
            self.post("/plivo/answer/", self.params(call, CallStatus="in-progress"))
            machine = "true" if how == "voicemail" else "false"
            self.post("/plivo/machine-detection/", self.params(call, Machine=machine))
            self.post("/plivo/hangup/", self.params(call, CallStatus="completed", HangupCause="NORMAL_CLEARING"))
            return
        cause = {"no-answer": "NO_ANSWER", "busy": "USER_BUSY", "failed": "UNALLOCATED_NUMBER"}[how]
        self.post("/plivo/hangup/", self.params(call, CallStatus=how, HangupCause=cause))


@pytest.fixture
def plivo(client, plivo_api, django_capture_on_commit_callbacks) -> Plivo:
    return Plivo(client, plivo_api.auth_token, django_capture_on_commit_callbacks)
