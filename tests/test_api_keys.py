"""API keys: issued hashed and shown once, found by prefix, revoked at once; the admin creates, lists and revokes."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.test import Client

from calls.api_keys import ApiKey, authenticate_key, find_key, issue_key, revoke_key
from tests.api_client import Api, error

pytestmark = pytest.mark.django_db
KEY_RE = re.compile(r"^vk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


def test_issue_key_stores_only_the_hash() -> None:
    user = User.objects.create_user("ops")
    key, raw = issue_key("CRM", ApiKey.Scope.CALL, user)
    match = KEY_RE.match(raw)
    assert match, raw
    key.refresh_from_db()
    assert (key.name, key.scope, key.created_by, key.prefix) == ("CRM", "call", user, match.group(1))
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(ApiKey.objects.values().get(pk=key.pk))
    assert key.last_used_at is None and key.revoked_at is None


def test_authenticate_key_finds_active_keys_only() -> None:
    key, raw = issue_key("CRM", ApiKey.Scope.READ, None)
    other, _ = issue_key("Other", ApiKey.Scope.READ, None)
    assert authenticate_key(raw) == key
    key.refresh_from_db()
    assert key.last_used_at is not None
    prefix, secret = KEY_RE.match(raw).groups()
    wrong_secret = f"vk_{prefix}_{'A' * 43}"
    wrong_prefix = f"vk_{other.prefix}_{secret}"  # a real secret under another key's prefix
    for bad in ["", "vk_", raw[:-1], raw + "x", wrong_secret, wrong_prefix, f"xx_{prefix}_{secret}", "Bearer " + raw]:
        assert authenticate_key(bad) is None, bad
    assert revoke_key(key) is True
    assert revoke_key(key) is False
    assert authenticate_key(raw) is None
    assert find_key(raw) == key  # still known, so the API can say it was revoked


def test_api_refuses_a_revoked_key_at_once() -> None:
    key, raw = issue_key("CRM", ApiKey.Scope.READ, None)
    assert Api(raw).get("/api/v1/agents").status_code == 200
    revoke_key(key)
    response = Api(raw).get("/api/v1/agents")
    assert response.status_code == 401
    assert response.json() == error("key_revoked", "This API key has been revoked.")


@pytest.fixture
def admin_client() -> Client:
    user = User.objects.create_superuser("root", password="x")
    client = Client()
    client.force_login(user)
    return client


def test_admin_creates_a_key_and_shows_it_once(admin_client: Client) -> None:
    form = admin_client.get("/admin/calls/apikey/add/")
    assert form.status_code == 200
    assert 'name="name"' in form.text and 'name="scope"' in form.text and "key_hash" not in form.text

    response = admin_client.post("/admin/calls/apikey/add/", {"name": "Zapier", "scope": "call"})
    assert response.status_code == 302
    (message,) = [str(m) for m in get_messages(response.wsgi_request) if "vk_" in str(m)]
    raw = re.search(r"vk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", message).group(0)
    assert "shown only this once" in message
    key = ApiKey.objects.get()
    assert (key.name, key.scope, key.created_by.username) == ("Zapier", "call", "root")
    assert authenticate_key(raw) == key

    shown = admin_client.get(response["Location"])  # the one page that shows it
    assert raw in shown.text and key.key_hash not in shown.text
    listing = admin_client.get("/admin/calls/apikey/")
    change = admin_client.get(f"/admin/calls/apikey/{key.pk}/change/")
    for page in (listing, change):
        assert page.status_code == 200
        assert key.prefix in page.text
        assert raw not in page.text and key.key_hash not in page.text


def test_admin_revokes_selected_keys(admin_client: Client) -> None:
    first, raw = issue_key("one", ApiKey.Scope.READ, None)
    second, _ = issue_key("two", ApiKey.Scope.CALL, None)
    response = admin_client.post(
        "/admin/calls/apikey/", {"action": "revoke", "_selected_action": [first.pk, second.pk]}
    )
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Revoked 2 key(s)."]
    assert ApiKey.objects.filter(revoked_at__isnull=True).count() == 0
    assert Api(raw).get("/api/v1/agents").status_code == 401


def test_admin_change_form_cannot_change_the_scope(admin_client: Client) -> None:
    key, _ = issue_key("read only", ApiKey.Scope.READ, None)
    admin_client.post(f"/admin/calls/apikey/{key.pk}/change/", {"name": "renamed", "scope": "call"})
    key.refresh_from_db()
    assert (key.name, key.scope) == ("renamed", "read")
