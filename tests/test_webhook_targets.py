"""The outgoing webhook: a timestamped signature, and never to loopback, link-local, private or reserved addresses."""

from __future__ import annotations

import socket

import pytest

from agents.webhook_targets import WebhookTargetError, checked_addresses, pinned
from calls import customer_webhook
from calls.customer_webhook import signature
from calls.models import CallEvent
from calls.tasks import finalize_call
from tests.call_factories import dental_agent, make_call
from tests.fakes.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db
SECRET = "s3cret-key"
BODY = b'{"event":"call.finalized"}'
REFUSED = (
    "is a loopback, link-local, private, multicast, reserved or unspecified address: webhooks go to public "
    "addresses only (WEBHOOK_ALLOW_PRIVATE_TARGETS=1 allows private ones)."
)


def test_signature_covers_the_timestamp():
    assert signature(BODY, SECRET, 1700000000) == (
        "sha256=1fbc759e727f3270a468a18f12c0e55c2106f5f06398395f45cf04cdfa87d624"
    )
    assert signature(BODY, SECRET, 1700000001) != signature(BODY, SECRET, 1700000000)


def test_delivery_sends_the_exact_signature_headers(settings, monkeypatch):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    monkeypatch.setattr(customer_webhook.time, "time", lambda: 1700000000.7)
    with Receiver([]) as receiver:
        assert customer_webhook.post(receiver.url, SECRET, BODY, "CA-1") == 200
    [(_, headers, body)] = receiver.requests
    assert body == BODY
    assert (headers["x-signature-timestamp"], headers["x-signature"], headers["x-call-uuid"]) == (
        "1700000000",
        "sha256=1fbc759e727f3270a468a18f12c0e55c2106f5f06398395f45cf04cdfa87d624",
        "CA-1",
    )


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("http://127.0.0.1:8000/hook", "127.0.0.1"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("https://10.0.0.1/hook", "10.0.0.1"),
        ("http://[::1]:8080/hook", "::1"),
        ("http://localhost/hook", "localhost (127.0.0.1)"),
        ("http://0.0.0.0/hook", "0.0.0.0"),
        ("http://[::ffff:192.168.1.1]/hook", "::ffff:192.168.1.1"),
    ],
)
def test_private_targets_are_refused_and_recorded_on_the_call(url, name, monkeypatch):
    if name.startswith("localhost"):  # resolve localhost the same on every machine (IPv4 only)
        monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("127.0.0.1", 80))])
    call = make_call(dental_agent(webhook_url=url, webhook_secret=SECRET))
    finalize_call.delay(call.pk)
    call.refresh_from_db()
    error = f"{name} {REFUSED}"
    event = CallEvent.objects.get(call=call)
    assert (event.kind, event.data) == ("webhook-failed", {"url": url, "error": error, "attempt": 1})
    assert call.error_notes == f"Webhook to {url} failed after 1 attempt(s): {error}"


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "file:///etc/passwd", "http:///nohost"])
def test_only_http_urls_with_a_host(url):
    with pytest.raises(WebhookTargetError, match="is not an http:// or https:// URL with a host"):
        checked_addresses(url)


def test_explicit_allow_delivers_to_a_local_receiver(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    with Receiver([]) as receiver:
        call = make_call(dental_agent(webhook_url=receiver.url, webhook_secret=SECRET))
        finalize_call.delay(call.pk)
    assert len(receiver.requests) == 1
    assert list(CallEvent.objects.values_list("kind", "data")) == [
        ("webhook", {"url": receiver.url, "status": 200, "attempt": 1})
    ]


def test_public_host_is_pinned_to_its_checked_address(monkeypatch):
    """The POST goes to the address that was checked (no second DNS lookup), with the original Host and TLS name."""
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("93.184.215.14", 443))])
    url = "https://hooks.example.com/calls?x=1"
    assert pinned(url, checked_addresses(url)) == (
        "https://93.184.215.14/calls?x=1",
        {"Host": "hooks.example.com"},
        {"sni_hostname": "hooks.example.com"},
    )
    url = "http://hooks.example.com:8080/calls"
    assert pinned(url, checked_addresses(url)) == (
        "http://93.184.215.14:8080/calls",
        {"Host": "hooks.example.com:8080"},
        {},
    )


def test_a_host_with_any_private_address_is_refused(monkeypatch):
    answers = [(2, 1, 6, "", ("93.184.215.14", 443)), (2, 1, 6, "", ("10.1.2.3", 443))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: answers)
    with pytest.raises(WebhookTargetError, match=r"^hooks\.example\.com \(10\.1\.2\.3\) is a loopback"):
        checked_addresses("https://hooks.example.com/calls")
