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


REPLAYED = b"Replayed X-Plivo-Signature-V3-Nonce: this signed request was already received."
AMBIGUOUS = b"Ambiguous parameters (a repeated name, or '&' or '=' inside a query value): Plivo never signs these."


def test_replayed_request_is_refused(client, caplog):
    headers = plivo_signature("POST", "http://testserver/plivo/answer/", PARAMS, TOKEN, nonce="nonce-1")
    assert client.post("/plivo/answer/", PARAMS, headers=headers).status_code == 200
    events = CallEvent.objects.count()
    replay = client.post("/plivo/answer/", PARAMS, headers=headers)
    assert (replay.status_code, replay.content) == (403, REPLAYED)
    assert Call.objects.count() == 1 and CallEvent.objects.count() == events
    assert "Rejected POST /plivo/answer/: replayed X-Plivo-Signature-V3-Nonce" in caplog.text
    assert headers["X-Plivo-Signature-V3"] not in caplog.text


def test_a_fresh_nonce_is_still_accepted(client):
    first = plivo_signature("POST", "http://testserver/plivo/answer/", PARAMS, TOKEN, nonce="nonce-1")
    second = plivo_signature("POST", "http://testserver/plivo/answer/", PARAMS, TOKEN, nonce="nonce-2")
    assert client.post("/plivo/answer/", PARAMS, headers=first).status_code == 200
    assert client.post("/plivo/answer/", PARAMS, headers=second).status_code == 200


def test_invalid_request_does_not_use_up_the_nonce(client):
    headers = plivo_signature("POST", "http://testserver/plivo/answer/", PARAMS, TOKEN, nonce="nonce-1")
    assert_refused(client.post("/plivo/answer/", {**PARAMS, "From": "19999999999"}, headers=headers))
    assert client.post("/plivo/answer/", PARAMS, headers=headers).status_code == 200


def test_body_resplit_with_the_genuine_nonce_is_refused(client):
    """``Direction=inbound`` + ``From=…`` and ``Direction=inboundFrom…`` sign the same string: the re-split must
    carry the genuine request's nonce, which is spent."""
    headers = plivo_signature("POST", "http://testserver/plivo/answer/", PARAMS, TOKEN, nonce="nonce-1")
    resplit = {"CallUUID": "uuid-1", "Direction": "inboundFrom14155550111", "To": "14155550100"}
    assert plivo_signature("POST", "http://testserver/plivo/answer/", resplit, TOKEN, nonce="nonce-1") == headers
    assert client.post("/plivo/answer/", PARAMS, headers=headers).status_code == 200
    response = client.post("/plivo/answer/", resplit, headers=headers)
    assert (response.status_code, response.content) == (403, REPLAYED)


def test_query_resplit_is_refused(client, caplog):
    """``Direction=inbound&From=1415…`` signs the same GET string as one ``Direction`` holding ``&From=…``."""
    url = "http://testserver/plivo/answer/?" + "&".join(f"{k}={v}" for k, v in PARAMS.items())
    headers = plivo_signature("GET", url, {}, TOKEN, nonce="nonce-1")
    query = "CallUUID=uuid-1&To=14155550100&Direction=inbound%26From%3D14155550111"
    forged = "http://testserver/plivo/answer/?" + query
    assert plivo_signature("GET", forged, {}, TOKEN, nonce="nonce-1") == headers  # the SDK cannot tell them apart
    response = client.get("/plivo/answer/?" + query, headers=headers)
    assert (response.status_code, response.content) == (403, AMBIGUOUS)
    assert Call.objects.count() == 0
    assert "ambiguous signed parameters: query parameter 'Direction' holds '&' or '='" in caplog.text


def test_repeated_parameter_is_refused(client):
    headers = plivo_signature("POST", "http://testserver/plivo/answer/", PARAMS, TOKEN, nonce="nonce-1")
    body = "From=19999999999&" + "&".join(f"{k}={v}" for k, v in PARAMS.items())
    response = client.post("/plivo/answer/", body, content_type="application/x-www-form-urlencoded", headers=headers)
    assert (response.status_code, response.content) == (403, AMBIGUOUS)
    assert Call.objects.count() == 0


def test_production_without_token_refuses_unsigned_webhooks_unless_allowed(client, settings, caplog):
    settings.PLIVO_AUTH_TOKEN, settings.DEBUG, settings.PLIVO_ALLOW_UNSIGNED_WEBHOOKS = "", False, False
    response = client.post("/plivo/answer/", PARAMS)
    assert (response.status_code, response.content) == (
        503,
        b"Plivo webhook authentication is not configured on this server.",
    )
    assert Call.objects.count() == 0
    assert "Rejected POST /plivo/answer/: PLIVO_AUTH_TOKEN is not set" in caplog.text
    settings.PLIVO_ALLOW_UNSIGNED_WEBHOOKS = True
    assert client.post("/plivo/answer/", PARAMS).status_code == 200
