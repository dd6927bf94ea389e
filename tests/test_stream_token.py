"""The stream token binds a CallUUID, expires, and cannot be forged."""

from __future__ import annotations

import time

import pytest

from calls.plivo.tokens import BadStreamToken, make_stream_token, read_stream_token


def test_round_trip():
    assert read_stream_token(make_stream_token("abc-123")) == "abc-123"


def test_expired_token_is_refused(monkeypatch):
    token = make_stream_token("abc-123")
    later = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(BadStreamToken, match="expired"):
        read_stream_token(token, max_age=60)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t.replace("abc-123", "abc-124"),
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: "garbage",
        lambda t: "",
    ],
)
def test_tampered_token_is_refused(mutate):
    with pytest.raises(BadStreamToken, match="invalid"):
        read_stream_token(mutate(make_stream_token("abc-123")))


def test_token_from_another_secret_is_refused(settings):
    token = make_stream_token("abc-123")
    settings.SECRET_KEY = "another-secret-key-another-secret-key-0123456789"
    with pytest.raises(BadStreamToken):
        read_stream_token(token)
