"""The HTTP side of the simulated Plivo: signed answer/hangup/stream-status requests and the answer XML."""

from __future__ import annotations

import dataclasses
import math
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import httpx
from plivo.utils.signature_v3 import construct_post_url, get_signature_v3


class SimulatorError(Exception):
    """The call could not be placed; ``exit_code`` is what ``simulate_call`` exits with."""

    exit_code = 1


class BadInput(SimulatorError):
    """A caller turn cannot be used (e.g. an unreadable WAV file)."""

    exit_code = 2


class ServerUnreachable(SimulatorError):
    exit_code = 3


class SignatureRejected(SimulatorError):
    exit_code = 4


class BadAnswer(SimulatorError):
    exit_code = 5


class NotConnected(BadAnswer):
    """The answer is valid XML but does not connect a stream (e.g. the number is not in service)."""


class StreamRefused(SimulatorError):
    exit_code = 6


@dataclass(frozen=True)
class StreamInstruction:
    """The ``<Stream>`` element of an answer."""

    url: str
    bidirectional: bool
    content_type: str
    status_callback_url: str
    status_callback_method: str


def routed_to(stream: StreamInstruction, base_url: str) -> StreamInstruction:
    """The stream's socket on ``base_url``'s host (same path and token), as a proxy routing /ws/plivo/ would send it."""
    url, target = urlsplit(stream.url), urlsplit(base_url)
    scheme = "wss" if target.scheme in ("https", "wss") else "ws"
    return dataclasses.replace(stream, url=urlunsplit(url._replace(scheme=scheme, netloc=target.netloc)))


def signature_headers(url: str, params: dict[str, str], auth_token: str) -> dict[str, str]:
    """X-Plivo-Signature-V3 headers for a POST of ``params`` to ``url``, with the SDK's own signing code."""
    nonce = str(secrets.randbelow(10**20)).zfill(20)
    base = construct_post_url(url, dict(params)).decode()
    signature = get_signature_v3(auth_token.encode(), base, nonce.encode()).decode()
    return {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce}


async def post_form(http: httpx.AsyncClient, url: str, params: dict[str, str], auth_token: str) -> httpx.Response:
    """POST ``params`` as a form, signed like Plivo when ``auth_token`` is given."""
    headers = {"User-Agent": "PlivoSimulator/1.0"}
    if auth_token:
        headers |= signature_headers(url, params, auth_token)
    return await http.post(url, data=params, headers=headers)


def parse_answer(body: str) -> StreamInstruction:
    """The ``<Stream>`` of an answer XML; BadAnswer when it is not XML or does not connect a stream."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise BadAnswer(f"the answer URL did not return XML ({exc}): {body.strip()[:120]!r}") from None
    if root.tag != "Response":
        raise BadAnswer(f"the answer XML's root is <{root.tag}>, not <Response>")
    stream = root.find("Stream")
    if stream is None or not (stream.text or "").strip():
        speak = " ".join((e.text or "").strip() for e in root.iter("Speak"))
        elements = ", ".join(f"<{e.tag}>" for e in root) or "nothing"
        if speak:
            raise NotConnected(
                f'the call was not connected to an agent; the server said "{speak}" and hung up '
                f"(is this number configured for an enabled agent?)"
            )
        raise NotConnected(f"the answer XML has no <Stream> (it contains {elements})")
    content_type = stream.get("contentType", "audio/x-mulaw;rate=8000")
    if content_type.replace(" ", "") != "audio/x-mulaw;rate=8000":
        raise BadAnswer(f"the <Stream> asks for {content_type}; the simulator speaks audio/x-mulaw;rate=8000 only")
    return StreamInstruction(
        url=(stream.text or "").strip(),
        bidirectional=stream.get("bidirectional", "false").lower() == "true",
        content_type=content_type,
        status_callback_url=stream.get("statusCallbackUrl", ""),
        status_callback_method=stream.get("statusCallbackMethod", "POST").upper(),
    )


async def request_answer(http: httpx.AsyncClient, url: str, params: dict[str, str], auth_token: str) -> str:
    """POST the answer URL; returns the XML text. Raises ServerUnreachable / SignatureRejected / BadAnswer."""
    try:
        response = await post_form(http, url, params, auth_token)
    except httpx.ConnectError as exc:
        raise ServerUnreachable(
            f"cannot connect to {url} (connection refused: {exc}); is the server running? Start it with `make run`."
        ) from None
    except httpx.TimeoutException:
        raise ServerUnreachable(f"{url} did not answer in time") from None
    except httpx.HTTPError as exc:
        raise ServerUnreachable(f"request to {url} failed: {exc}") from None
    if response.status_code == 403:
        hint = (
            "the server rejected our X-Plivo-Signature-V3: the auth token must be the server's PLIVO_AUTH_TOKEN "
            "(and --url the URL it validates against, its PUBLIC_URL if set)"
            if auth_token
            else "the server requires an X-Plivo-Signature-V3: pass --auth-token or set PLIVO_AUTH_TOKEN to its token"
        )
        raise SignatureRejected(f"403 Forbidden from {url}: {hint}")
    if response.status_code != 200:
        raise BadAnswer(f"the answer URL returned HTTP {response.status_code}: {response.text.strip()[:160]!r}")
    return response.text


def describe_refusal(exc: BaseException) -> str:
    """Why a WebSocket connection failed, for a one-line message."""
    response = getattr(exc, "response", None)
    if response is not None:
        return f"HTTP {response.status_code} (the stream token was rejected or the call is no longer live)"
    return str(exc) or type(exc).__name__


def plivo_time(epoch: float) -> str:
    """Plivo's timestamp format, e.g. ``2024-01-15 10:30:00`` (UTC)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def hangup_params(base: dict[str, str], start: float, answer: float | None, end: float, source: str) -> dict[str, str]:
    """The hangup URL form of a completed call (times are epoch seconds)."""
    duration = max(0, math.ceil(end - (answer or end)))
    params = {
        **base,
        "CallStatus": "completed",
        "Duration": str(duration),
        "BillDuration": str(math.ceil(duration / 60) * 60),
        "HangupCause": "NORMAL_CLEARING",
        "HangupCauseName": "Normal Hangup",
        "HangupCauseCode": "4000",
        "HangupSource": source,
        "StartTime": plivo_time(start),
        "EndTime": plivo_time(end),
    }
    if answer is not None:
        params["AnswerTime"] = plivo_time(answer)
    return params
