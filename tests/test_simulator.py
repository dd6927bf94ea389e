"""The call simulator against real daphne servers (scripted and offline providers), plus its offline parts."""

from __future__ import annotations

import asyncio
import audioop
import json
import math
import subprocess
import sys
import wave
from pathlib import Path

import httpx
import pytest
from plivo.utils import validate_v3_signature

from streaming.simulator.audio_source import SAMPLE_RATE, SILENT_FRAME, prepare, wav_ulaw
from streaming.simulator.client import run_call
from streaming.simulator.config import CallerTurn, CallScript
from streaming.simulator.playout import Playout
from streaming.simulator.plivo_http import BadAnswer, SignatureRejected, StreamRefused
from streaming.simulator.report import format_summary
from tests.fakes.scripted import ScriptedSTT, echo_text, tone
from tests.live_server import ROOT, SCRIPTED, LiveServer, free_port, migrated_database, start_server

TOKEN = "simulator-test-token"
DEMO = "+14155550100"
QUESTION = "What are your opening hours?"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("simulator")


@pytest.fixture(scope="module")
def template_db(workdir: Path) -> Path:
    return migrated_database(workdir / "template.sqlite3")


@pytest.fixture(scope="module")
def scripted_server(workdir: Path, template_db: Path):
    server = start_server(
        workdir,
        template_db,
        "scripted",
        VOICE_PROVIDER_FACTORY=SCRIPTED,
        SCRIPTED_TRANSCRIPTS=f"{QUESTION}|Thank you|mm-hmm",  # the backchannel call's 3rd utterance: "mm-hmm"
        PLIVO_AUTH_TOKEN=TOKEN,
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def offline_server(workdir: Path, template_db: Path):
    server = start_server(workdir, template_db, "offline")  # default factory: auto → offline without keys
    try:
        yield server
    finally:
        server.stop()


SIMULATE_CALL = (sys.executable, "-W", "ignore", "manage.py", "simulate_call")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SIMULATE_CALL, *args], cwd=ROOT, capture_output=True, text=True, timeout=90)


async def cli_async(server: LiveServer, *args: str) -> tuple[int, str, str]:
    """The command, run with the server's environment (so it finds the call's turns in the server's database)."""
    pipe = subprocess.PIPE
    process = await asyncio.create_subprocess_exec(
        *SIMULATE_CALL, "--url", server.url, *args, cwd=ROOT, env=server.env, stdout=pipe, stderr=pipe
    )
    out, err = await asyncio.wait_for(process.communicate(), 90)
    return process.returncode, out.decode(), err.decode()


@pytest.fixture(scope="module")
def calls(scripted_server: LiveServer, offline_server: LiveServer, workdir: Path) -> dict:
    """All the live calls of this module, placed concurrently (as a benchmark would); exceptions are kept."""

    def config(server: LiveServer, turns: list, **options) -> CallScript:
        options = {"silence_ms": 300, "max_seconds": 45, "hang_up_after_ms": 300} | options
        token = TOKEN if server is scripted_server else ""
        return CallScript(to=DEMO, turns=turns, base_url=server.url, auth_token=token, **options)

    # Calls arrive 0.7 s apart: concurrent answer requests on one SQLite file can fail with "database is locked".
    scenarios = {
        "conversation": (
            0.0,
            lambda: run_call(
                config(scripted_server, [QUESTION, "Thank you"], record_path=str(workdir / "conversation.wav"))
            ),
        ),
        "barge_in": (
            0.7,
            lambda: run_call(config(scripted_server, [QUESTION, "Hold on what about Sunday"], barge_in_after_ms=500)),
        ),
        "dtmf": (1.4, lambda: run_call(config(scripted_server, [CallerTurn(dtmf="1#")]))),
        "backchannel": (
            2.8,
            lambda: run_call(
                config(scripted_server, [QUESTION, "Thank you", QUESTION], backchannels=lambda index: index == 1)
            ),
        ),
        "max_seconds": (2.1, lambda: run_call(config(scripted_server, [QUESTION], max_seconds=3))),
        "cli_json": (
            0.0,
            lambda: cli_async(
                scripted_server,
                "--to",
                DEMO,
                "--say",
                QUESTION,
                "--json",
                "--auth-token",
                TOKEN,
                "--silence-ms",
                "300",
                "--hang-up-after-ms",
                "300",
            ),
        ),
        "offline": (0.0, lambda: run_call(config(offline_server, [QUESTION, "Goodbye"], hang_up_after_ms=5000))),
    }

    async def later(delay: float, start):
        await asyncio.sleep(delay)
        return await start()

    async def place_all() -> list:
        return await asyncio.gather(*(later(*s) for s in scenarios.values()), return_exceptions=True)

    return dict(zip(scenarios, asyncio.run(place_all()), strict=True))


def outcome(calls: dict, name: str):
    result = calls[name]
    if isinstance(result, BaseException):
        raise result
    return result


# ---- live calls, scripted providers (server requires signatures) ----
def test_two_turn_conversation_is_recorded(calls, scripted_server):
    result = outcome(calls, "conversation")
    assert result.ended_by == "caller" and result.error == ""
    assert 0 < result.greeting_ms < 2000
    assert [a.said for a in result.answers] == [QUESTION, "Thank you"]
    assert all(0 < ms < 3000 for ms in result.voice_to_voice_ms) and len(result.voice_to_voice_ms) == 2
    assert result.checkpoints_received == result.checkpoints_acked == 3
    assert result.frames_sent > 300 and result.frames_received > 100 and result.clear_audio_received == 0
    kinds = [e.kind for e in result.transcript]
    assert kinds.count("agent-start") == 3 and kinds.count("caller-start") == 2
    assert result.hangup_status == 200 and result.status_callbacks == [200, 200]  # signed requests accepted
    turns = scripted_server.turns(result.call_uuid)
    assert [(role, text) for role, text, _, _ in turns][1::2] == [("caller", QUESTION), ("caller", "Thank you")]
    assert [role for role, *_ in turns] == ["agent", "caller", "agent", "caller", "agent"]
    assert not any(interrupted for _, _, interrupted, _ in turns)
    call = scripted_server.call(result.call_uuid)
    assert call["status"] == "completed" and call["hangup_cause"] == "NORMAL_CLEARING"
    assert abs(call["duration_seconds"] - result.duration_s) <= 1.5
    assert [e["Event"] for e in scripted_server.events(result.call_uuid, "stream-status")] == [
        "StartStream",
        "StopStream",
    ]
    assert json.loads(result.to_json())["voice_to_voice_ms"] == result.voice_to_voice_ms


def test_recording_has_both_sides_in_time(calls, workdir):
    result = outcome(calls, "conversation")
    with wave.open(str(workdir / "conversation.wav")) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        assert abs(wav.getnframes() / 8000 - result.duration_s) < 0.5
        audio = wav.readframes(wav.getnframes())
    left, right = audioop.tomono(audio, 2, 1, 0), audioop.tomono(audio, 2, 0, 1)

    def loud_share(track: bytes, start: float, end: float) -> float:
        """The share of 100 ms windows in [start, end) with sound (the agent's audio may have small gaps)."""
        windows = [int(t * SAMPLE_RATE) * 2 for t in [start + i / 10 for i in range(int((end - start) * 10))]]
        return sum(audioop.rms(track[w : w + 1600], 2) > 300 for w in windows) / len(windows)

    def span(start_kind: str, stop_kind: str) -> tuple[float, float]:
        start = next(e.at for e in result.transcript if e.kind == start_kind)
        return start, next(e.at for e in result.transcript if e.kind == stop_kind and e.at > start)

    caller, agent = span("caller-start", "caller-stop"), span("agent-start", "agent-stop")
    assert loud_share(left, *caller) > 0.7 and loud_share(right, *caller) == 0
    assert loud_share(right, *agent) > 0.7 and loud_share(left, *agent) == 0


def test_barge_in_clears_audio_and_interrupts_the_turn(calls, scripted_server):
    result = outcome(calls, "barge_in")
    assert result.clear_audio_received >= 1
    barge = result.answers[1]
    assert barge.barge_in and 0 < barge.barge_in_reaction_ms < 2000
    assert any(e.kind == "agent-stop" and e.data["cleared"] for e in result.transcript)
    interrupted = [(text, heard) for role, text, cut, heard in scripted_server.turns(result.call_uuid) if cut]
    assert interrupted and all(role_text.startswith(heard) for role_text, heard in interrupted)
    assert scripted_server.events(result.call_uuid, "barge-in")


def test_a_backchannel_is_said_over_the_reply_and_is_no_turn(calls, scripted_server):
    result = outcome(calls, "backchannel")
    assert result.ended_by == "caller" and result.error == ""
    assert [a.said for a in result.answers] == [QUESTION, "Thank you", QUESTION]
    assert len(result.voice_to_voice_ms) == 3  # the backchannel waited for no answer of its own
    (back,) = result.backchannels
    assert back.turn == 2 and back.said == "mm-hmm"
    assert back.speech_start_s is not None and back.speech_end_s is not None
    assert 0.3 <= back.speech_end_s - back.speech_start_s <= 0.6  # a short "mm-hmm"
    reply_start = next(
        e.at for e in result.transcript if e.kind == "agent-start" and e.at > result.answers[1].speech_end_s
    )
    assert 0.55 <= back.speech_start_s - reply_start <= 1.0  # ~600 ms into the reply to turn 2
    starts = [e for e in result.transcript if e.kind == "caller-start"]
    assert [bool(e.data.get("backchannel")) for e in starts] == [False, False, True, False]
    if back.clear_ms is None:  # the agent talked on: nothing resumed
        assert back.resume_ms is None
    turns = scripted_server.turns(result.call_uuid)
    said = [text for role, text, _, _ in turns if role == "caller"]
    assert [t for t in said if t != "mm-hmm"] == [QUESTION, "Thank you", QUESTION]
    replies = [text for role, text, _, _ in turns if role == "agent"][1:]
    assert echo_text("mm-hmm") not in replies  # the STT heard "mm-hmm": a backchannel, not a question
    assert '"mm-hmm" over the reply' in format_summary(result)


def test_dtmf_reaches_the_call_events(calls, scripted_server):
    result = outcome(calls, "dtmf")
    assert result.dtmf_sent == "1#"
    assert scripted_server.events(result.call_uuid, "dtmf") == [{"digit": "1"}, {"digit": "#"}]
    assert result.frames_received > 0 and result.hangup_status == 200


def test_max_seconds_hangs_up_like_plivo(calls, scripted_server):
    result = outcome(calls, "max_seconds")
    assert result.ended_by == "max-seconds" and 2.9 <= result.duration_s < 4
    assert result.close_code == 1000 and result.hangup_status == 200
    call = scripted_server.call(result.call_uuid)
    assert call["status"] == "completed" and json.loads(call["hangup_data"])["HangupSource"] == "Caller"


def test_cli_prints_json_with_the_server_turns(calls):
    code, out, err = outcome(calls, "cli_json")
    assert code == 0, err
    data = json.loads(out)
    assert data["greeting_ms"] > 0 and len(data["voice_to_voice_ms"]) == 1 and data["ended_by"] == "caller", out
    assert [t[:2] for t in data["server_turns"]][1] == ["caller", QUESTION], out


async def test_unsigned_answer_is_rejected(scripted_server):
    with pytest.raises(SignatureRejected, match="PLIVO_AUTH_TOKEN"):
        await run_call(CallScript(to=DEMO, base_url=scripted_server.url))


def test_cli_wrong_token_gets_403_message_and_exit_4(scripted_server):
    done = cli("--url", scripted_server.url, "--to", DEMO, "--say", QUESTION, "--auth-token", "wrong")
    assert done.returncode == 4
    assert "403" in done.stderr and "X-Plivo-Signature-V3" in done.stderr and "PLIVO_AUTH_TOKEN" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_cli_unknown_number_exit_5(scripted_server):
    done = cli("--url", scripted_server.url, "--to", "+15550001111", "--auth-token", TOKEN)
    assert done.returncode == 5
    assert "Sorry, this number is not in service" in done.stderr
    ((status, ended),) = scripted_server.query(
        "SELECT status, ended_at IS NOT NULL FROM calls_call WHERE to_number = ?", "+15550001111"
    )
    assert status == "no-agent" and ended  # the hangup URL came too, like Plivo after <Speak><Hangup>


def test_cli_server_not_running_exit_3():
    done = cli("--url", f"http://127.0.0.1:{free_port()}", "--to", DEMO, "--say", QUESTION)
    assert done.returncode == 3
    assert "is the server running" in done.stderr


# ---- live call, real offline providers (pocketsphinx, eSpeak NG, offline responder) ----
def test_demo_agent_answers_its_faq_offline(calls, offline_server):
    result = outcome(calls, "offline")
    turns = offline_server.turns(result.call_uuid)
    assert turns[0][:2] == ("agent", "Hello! Thanks for calling Example Co. How can I help you today?")
    assert "opening hours" in turns[1][1].lower()
    assert "Monday to Friday" in turns[2][1]
    assert result.greeting_ms is not None and len(result.voice_to_voice_ms) >= 1
    assert result.ended_by == "server"  # "Goodbye" ends the call from the agent's side
    assert offline_server.call(result.call_uuid)["status"] == "completed"


# ---- offline parts ----
def test_scripted_stt_partials_grow_one_word_per_300_ms_and_the_final_waits_for_the_endpoint():
    def heard(stt: ScriptedSTT, speech_ms: int, silence_ms: int) -> list[tuple[int, str, bool]]:
        frames = [tone(20)] * (speech_ms // 20) + [SILENT_FRAME] * (silence_ms // 20)
        out = []
        for n, frame in enumerate(frames, 1):
            stt.feed(frame)
            while not stt._queue.empty():
                item = stt._queue.get_nowait()
                out.append((n * 20, item.text, item.final))
        return out

    stt = ScriptedSTT(transcripts=["what are your opening hours", "mm-hmm"], final_ms=800)
    assert heard(stt, 1240, 1000) == [
        (300, "what", False),
        (600, "what are", False),
        (900, "what are your", False),
        (1200, "what are your opening", False),
        (1500, "what are your opening hours", False),  # in the trailing silence: the recognizer catches up
        (2040, "what are your opening hours", True),  # 800 ms after the last voiced frame
    ]
    assert heard(stt, 420, 900) == [(300, "mm-hmm", False), (1220, "mm-hmm", True)]  # the next transcript
    faster = ScriptedSTT(transcripts=["hold on please"], final_ms=150, partial_every_ms=100)
    assert heard(faster, 700, 200) == [
        (100, "hold", False),  # one word at once, the next per 300 ms as before
        (600, "hold on", False),
        (860, "hold on please", True),
    ]


def test_playout_counts_holes_inside_an_utterance_only():
    now = [0.0]
    playout = Playout(clock=lambda: now[0])
    frame, checkpoint = (lambda: playout.audio(b"\xff" * 160)), (lambda: playout.checkpoint("utterance-1"))
    # 20 ms frames: a 90 ms hole before the 4th; after a checkpoint or clearAudio the wait is a latency, not a hole
    steps = [(0.0, frame), (0.02, frame), (0.04, frame), (0.15, frame), (0.15, checkpoint), (0.5, frame)]
    for now[0], step in [*steps, (0.52, playout.clear), (0.9, frame), (0.95, frame)]:  # 30 ms: a hole
        step()
    assert [round(h) for h in playout.holes] == [90, 30]


def write_wav(path: Path, rate: int, width: int, channels: int, seconds: float) -> None:
    n = int(rate * seconds)
    peak = 2 ** (8 * width - 1) - 1
    samples = [int(peak * 0.5 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(n)]
    frame = b"".join(
        ((s + 128) if width == 1 else s).to_bytes(width, "little", signed=width > 1) * channels for s in samples
    )
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(frame)


@pytest.mark.parametrize(("rate", "width", "channels"), [(44100, 2, 2), (16000, 1, 1), (8000, 3, 4), (22050, 4, 1)])
def test_wav_files_become_8khz_mulaw(tmp_path, rate, width, channels):
    path = tmp_path / "turn.wav"
    write_wav(path, rate, width, channels, 0.5)
    ulaw = wav_ulaw(path)
    assert abs(len(ulaw) - 4000) <= 8
    audio = prepare(ulaw)
    assert audio.onset_frame == 0 and audio.end_frame == 25 == len(audio.frames_b64)


async def test_answer_errors_and_signatures_without_a_server():
    seen: list[str] = []
    body = {"text": f"<Response><Stream>ws://127.0.0.1:{free_port()}/ws/</Stream></Response>"}

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(httpx.QueryParams(request.content.decode()))
        assert validate_v3_signature(
            "POST",
            str(request.url),
            request.headers["X-Plivo-Signature-V3-Nonce"],
            "tok",
            request.headers["X-Plivo-Signature-V3"],
            params,
        )
        seen.append(request.url.path)
        return httpx.Response(200, text=body["text"], headers={"content-type": "application/xml"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        config = CallScript(to=DEMO, base_url="http://plivo.test", auth_token="tok")
        with pytest.raises(StreamRefused) as refused:
            await run_call(config, http)
        assert refused.value.exit_code == 6 and seen == ["/plivo/answer/", "/plivo/hangup/"]
        body["text"] = "ok"
        with pytest.raises(BadAnswer, match="did not return XML") as bad:
            await run_call(config, http)
        assert bad.value.exit_code == 5
        body["text"] = "<Response><Speak>Closed today.</Speak><Hangup/></Response>"
        with pytest.raises(BadAnswer, match="Closed today"):
            await run_call(config, http)
