"""Recordings, served only through this authenticated view, with HTTP Range support so players can seek."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_http_methods

from calls.models import Call
from calls.ui.access import calls_viewer_required

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 64 * 1024


class UnsatisfiableRange(Exception):
    pass


def recording_file(call: Call) -> Path | None:
    """The call's recording on disk, or None (no recording, missing file, or a path outside RECORDINGS_DIR)."""
    if not call.recording_path:
        return None
    root = Path(settings.RECORDINGS_DIR).resolve()
    path = (root / call.recording_path).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte positions of a single ``bytes=`` range; None to send the whole file."""
    match = RANGE_RE.match(header.strip())
    if not match or not any(match.groups()):
        return None  # absent, multi-range or malformed: RFC 9110 lets us ignore it
    first, last = match.groups()
    if not first:  # suffix: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise UnsatisfiableRange
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise UnsatisfiableRange
    return start, end


def sync_chunks(path: Path, start: int, length: int) -> Iterator[bytes]:
    with path.open("rb") as f:
        f.seek(start)
        while length > 0 and (chunk := f.read(min(CHUNK, length))):
            length -= len(chunk)
            yield chunk


async def async_chunks(path: Path, start: int, length: int) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        f.seek(start)
        while length > 0 and (chunk := await asyncio.to_thread(f.read, min(CHUNK, length))):
            length -= len(chunk)
            yield chunk


def file_response(request: HttpRequest, path: Path, start: int, end: int, status: int) -> StreamingHttpResponse:
    length = end - start + 1
    is_asgi = hasattr(request, "scope")  # ASGI servers consume async iterators without buffering the file
    content = async_chunks(path, start, length) if is_asgi else sync_chunks(path, start, length)
    response = StreamingHttpResponse(content, status=status, content_type="audio/wav")
    response["Content-Length"] = str(length)
    return response


@require_http_methods(["GET", "HEAD"])
@calls_viewer_required
def recording(request: HttpRequest, pk: int) -> HttpResponse:
    call = get_object_or_404(Call, pk=pk)
    path = recording_file(call)
    if path is None:
        raise Http404("This call has no recording.")
    return recording_response(request, path, f"call-{call.pk}.wav", "inline")


def recording_response(request: HttpRequest, path: Path, filename: str, disposition: str) -> HttpResponse:
    """The WAV at ``path``, whole or the ``Range`` asked for (206; 416 when unsatisfiable), never cached."""
    size = path.stat().st_size
    try:
        byte_range = parse_range(request.headers.get("Range", ""), size)
    except UnsatisfiableRange:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    if byte_range is None:
        response = file_response(request, path, 0, size - 1, 200)
    else:
        response = file_response(request, path, *byte_range, 206)
        response["Content-Range"] = f"bytes {byte_range[0]}-{byte_range[1]}/{size}"
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=0"
    response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    return response
