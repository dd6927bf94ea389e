"""Recordings: only through the authenticated view, with HTTP Range for seeking, 404 without a file."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from calls.models import Call
from calls.ui.recordings import UnsatisfiableRange, parse_range
from tests.call_factories import dental_agent, make_call, make_user, store_recording, wav_bytes

pytestmark = pytest.mark.django_db
AUDIO = wav_bytes(0.5)  # 16044 bytes


@pytest.fixture
async def close_thread_connections():
    """Async tests use the DB from asgiref's worker thread; close its connections (PostgreSQL keeps them)."""
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
def call() -> Call:
    call = make_call(dental_agent())
    store_recording(call, AUDIO)
    return call


@pytest.fixture
def operator(client):
    client.force_login(make_user("operator", permitted=True))
    return client


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_whole_file_with_range_support_advertised(operator, call):
    response = operator.get(f"/calls/{call.pk}/recording.wav")
    assert response.status_code == 200
    assert (response["Content-Type"], response["Content-Length"], response["Accept-Ranges"]) == (
        "audio/wav",
        str(len(AUDIO)),
        "bytes",
    )
    assert response["Cache-Control"] == "private, max-age=0"
    assert body(response) == AUDIO


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=100-199", 100, 199), ("bytes=16000-", 16000, len(AUDIO) - 1), ("bytes=-44", len(AUDIO) - 44, 16043),
     ("bytes=16040-99999", 16040, 16043)],
)  # fmt: skip
def test_range_requests_get_206_with_exactly_those_bytes(operator, call, header, first, last):
    response = operator.get(f"/calls/{call.pk}/recording.wav", HTTP_RANGE=header)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {first}-{last}/{len(AUDIO)}"
    assert response["Content-Length"] == str(last - first + 1)
    assert body(response) == AUDIO[first : last + 1]


def test_unsatisfiable_range_is_416(operator, call):
    response = operator.get(f"/calls/{call.pk}/recording.wav", HTTP_RANGE="bytes=20000-")
    assert (response.status_code, response["Content-Range"]) == (416, f"bytes */{len(AUDIO)}")


def test_multi_range_is_answered_with_the_whole_file(operator, call):
    response = operator.get(f"/calls/{call.pk}/recording.wav", HTTP_RANGE="bytes=0-1,5-6")
    assert (response.status_code, body(response)) == (200, AUDIO)


@pytest.mark.parametrize(("header", "size"), [("bytes=5-2", 10), ("bytes=-0", 10), ("bytes=10-", 10)])
def test_parse_range_rejects_impossible_ranges(header, size):
    with pytest.raises(UnsatisfiableRange):
        parse_range(header, size)


def test_parse_range_ignores_what_it_does_not_understand():
    assert [parse_range(h, 10) for h in ("", "bytes=-", "items=0-1", "bytes=0-1,3-4")] == [None] * 4


def test_no_file_or_no_recording_is_404(operator):
    no_recording = make_call(dental_agent(), call_uuid="CA-none")
    missing = make_call(no_recording.agent, call_uuid="CA-missing", recording_path="2025/gone.wav")
    assert operator.get(f"/calls/{no_recording.pk}/recording.wav").status_code == 404
    assert operator.get(f"/calls/{missing.pk}/recording.wav").status_code == 404


def test_paths_outside_the_recordings_dir_are_never_served(operator, settings, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("not a recording")
    call = make_call(dental_agent(), recording_path="../../secret.txt")
    assert (settings.RECORDINGS_DIR / call.recording_path).resolve() == secret
    assert operator.get(f"/calls/{call.pk}/recording.wav").status_code == 404


def test_recording_is_refused_to_anonymous_and_unpermitted_users(client, call):
    url = f"/calls/{call.pk}/recording.wav"
    assert client.get(url, HTTP_RANGE="bytes=0-10").status_code == 302
    client.force_login(make_user("visitor"))
    assert client.get(url, HTTP_RANGE="bytes=0-10").status_code == 403


def test_recordings_are_not_under_a_public_url(client, call, settings):
    assert settings.MEDIA_URL in ("", "/")  # no media URL is configured, nothing serves MEDIA_ROOT
    assert client.get(f"/media/recordings/{call.recording_path}").status_code == 404


@pytest.mark.django_db(transaction=True)
async def test_asgi_requests_stream_the_range_asynchronously(async_client, close_thread_connections):
    call = await Call.objects.acreate(call_uuid="CA-async")
    await _store(call)
    await async_client.aforce_login(await _user())
    response = await async_client.get(f"/calls/{call.pk}/recording.wav", headers={"Range": "bytes=44-1043"})
    assert response.status_code == 206
    assert response.is_async
    assert b"".join([chunk async for chunk in response.streaming_content]) == AUDIO[44:1044]


async def _store(call: Call) -> None:
    await sync_to_async(store_recording)(call, AUDIO)


async def _user():
    return await sync_to_async(make_user)("async-operator", permitted=True)
