"""Every Plivo webhook checks X-Plivo-Signature-V3 when PLIVO_AUTH_TOKEN is set."""

from __future__ import annotations

import pytest

from calls.models import Call, CallEvent
from tests.factories import make_agent
from tests.plivo_signing import plivo_signature

pytestmark = pytest.mark.django_db

TOKEN = "test-auth-token"
PARAMS = {"CallUUID": "uuid-1", "From": "14155550111", "To": "14155550100", "Direction": "inbound"}


@pytest.fixture(autouse=True)
def signed(settings):
    settings.PLIVO_AUTH_TOKEN = TOKEN
    make_agent()


def test_signed_post_is_accepted(client):
    headers = plivo_signature("POST", "http://testserver/plivo/answer/", PARAMS, TOKEN)
    response = client.post("/plivo/answer/", PARAMS, headers=headers)
    assert response.status_code == 200
    assert Call.objects.filter(call_uuid="uuid-1").exists()


def test_signed_get_with_query_is_accepted(client):
    url = "http://testserver/plivo/answer/?" + "&".join(f"{k}={v}" for k, v in PARAMS.items())
    headers = plivo_signature("GET", url, {}, TOKEN)
    response = client.get("/plivo/answer/", PARAMS, headers=headers)
    assert response.status_code == 200


def test_one_of_several_signatures_may_match(client):
    headers = plivo_signature("POST", "http://testserver/plivo/answer/", PARAMS, TOKEN)
    headers["X-Plivo-Signature-V3"] = "bogus," + headers["X-Plivo-Signature-V3"]
    assert client.post("/plivo/answer/", PARAMS, headers=headers).status_code == 200


def test_signature_checked_against_public_url(client, settings):
    settings.PUBLIC_URL = "https://voice.example.com"
    good = plivo_signature("POST", "https://voice.example.com/plivo/answer/", PARAMS, TOKEN)
    wrong_host = plivo_signature("POST", "http://testserver/plivo/answer/", PARAMS, TOKEN)
    assert client.post("/plivo/answer/", PARAMS, headers=wrong_host).status_code == 403
    assert client.post("/plivo/answer/", PARAMS, headers=good).status_code == 200


def assert_refused(response) -> None:
    assert response.status_code == 403
    assert response.content == b"Invalid or missing X-Plivo-Signature-V3 for this URL."
    assert Call.objects.count() == 0
    assert CallEvent.objects.count() == 0


def test_tampered_param_is_refused(client):
    headers = plivo_signature("POST", "http://testserver/plivo/answer/", PARAMS, TOKEN)
    assert_refused(client.post("/plivo/answer/", {**PARAMS, "From": "19999999999"}, headers=headers))


def test_wrong_token_is_refused(client):
    headers = plivo_signature("POST", "http://testserver/plivo/answer/", PARAMS, "another-token")
    assert_refused(client.post("/plivo/answer/", PARAMS, headers=headers))


def test_missing_header_is_refused(client):
    assert_refused(client.post("/plivo/answer/", PARAMS))


def test_wrong_host_is_refused(client):
    headers = plivo_signature("POST", "http://evil.example.com/plivo/answer/", PARAMS, TOKEN)
    assert_refused(client.post("/plivo/answer/", PARAMS, headers=headers))


@pytest.mark.parametrize("path", ["/plivo/hangup/", "/plivo/stream-status/"])
def test_other_webhooks_are_signed_too(client, path):
    assert_refused(client.post(path, PARAMS))
    headers = plivo_signature("POST", f"http://testserver{path}", PARAMS, TOKEN)
    assert client.post(path, PARAMS, headers=headers).status_code in (200, 404)
