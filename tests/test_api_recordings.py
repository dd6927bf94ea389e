"""A call's recording through the API: the API key, the whole WAV or a byte range, JSON 404s."""

from __future__ import annotations

import pytest

from tests.api_client import Api, error, new_key
from tests.call_factories import make_call, store_recording, wav_bytes

pytestmark = pytest.mark.django_db


def test_the_recording_with_an_api_key() -> None:
    call = make_call(None, turns=[])
    data = wav_bytes(0.2)
    store_recording(call, data)
    path = f"/api/v1/calls/{call.pk}/recording"
    assert Api(None).get(path).status_code == 401
    api = Api(new_key())
    whole = api.get(path, Accept="audio/wav")
    assert (whole.status_code, whole["Content-Type"], whole["Content-Length"]) == (200, "audio/wav", str(len(data)))
    assert b"".join(whole.streaming_content) == data
    assert whole["Content-Disposition"] == f'attachment; filename="call-{call.pk}.wav"'
    part = api.get(path, Range="bytes=10-19")
    assert (part.status_code, part["Content-Range"]) == (206, f"bytes 10-19/{len(data)}")
    assert b"".join(part.streaming_content) == data[10:20]
    beyond = api.get(path, Range=f"bytes={len(data)}-")
    assert (beyond.status_code, beyond["Content-Range"]) == (416, f"bytes */{len(data)}")


def test_no_recording_is_a_json_404() -> None:
    call = make_call(None, turns=[])
    api = Api(new_key())
    response = api.get(f"/api/v1/calls/{call.pk}/recording", Accept="audio/*")
    assert response.status_code == 404
    assert response.json() == error("not_found", "This call has no recording.")
    assert api.get(f"/api/v1/calls/{call.pk + 1}/recording").json() == error("not_found", "No call with this id.")
