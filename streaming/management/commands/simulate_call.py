"""Call a running server exactly as Plivo would, print the live transcript and the latencies.

Exit codes: 0 ok, 2 usage, 3 server not reachable, 4 rejected (403 signature), 5 bad answer (not XML, no
<Stream>), 6 stream socket refused or closed at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from calls.models import Call, Turn
from streaming.simulator.client import CallerTurn, CallScript, run_call
from streaming.simulator.plivo_http import SimulatorError
from streaming.simulator.report import TranscriptEntry, format_entry, format_summary

DTMF_KEYS = set("0123456789*#ABCD")


def say_turn(text: str) -> CallerTurn:
    if not text.strip():
        raise argparse.ArgumentTypeError("--say needs some text")
    return CallerTurn(text=text)


def wav_turn(path: str) -> CallerTurn:
    if not Path(path).is_file():
        raise argparse.ArgumentTypeError(f"no such WAV file: {path}")
    return CallerTurn(wav=path)


def dtmf_turn(digits: str) -> CallerTurn:
    if not digits or set(digits) - DTMF_KEYS:
        raise argparse.ArgumentTypeError(f"DTMF digits are 0-9 * # A-D, got {digits!r}")
    return CallerTurn(dtmf=digits)


def positive(kind: type) -> Callable[[str], float]:
    """An argparse type: a positive number of ``kind``."""

    def parse(value: str) -> float:
        number = kind(value)
        if number <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {value}")
        return number

    return parse


class Command(BaseCommand):
    help = (
        "Place a simulated Plivo call to a running server (answer URL, <Stream> WebSocket, hangup URL): the caller "
        "says --say texts (offline eSpeak NG) or --wav files, in order, and the command prints a live transcript "
        "and a latency summary."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--to", required=True, metavar="NUMBER", help="the number called, e.g. +14155550100")
        parser.add_argument(
            "--from", dest="caller", default="+14155550111", metavar="NUMBER", help="the caller's number"
        )
        parser.add_argument(
            "--say",
            dest="turns",
            action="append",
            type=say_turn,
            default=[],
            metavar="TEXT",
            help="a caller turn spoken by the offline TTS (repeatable)",
        )
        parser.add_argument(
            "--wav",
            dest="turns",
            action="append",
            type=wav_turn,
            metavar="FILE",
            help="a caller turn from a WAV file, any rate/width/channels (repeatable)",
        )
        parser.add_argument(
            "--dtmf",
            dest="turns",
            action="append",
            type=dtmf_turn,
            metavar="DIGITS",
            help="press keys, e.g. 1# (in order with the other turns)",
        )
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the server's base URL")
        parser.add_argument(
            "--barge-in-after-ms",
            type=int,
            default=None,
            metavar="N",
            help="every turn after the first interrupts the agent N ms after its reply starts",
        )
        parser.add_argument("--silence-ms", type=int, default=800, metavar="MS", help="silence before each caller turn")
        parser.add_argument(
            "--max-seconds", type=positive(float), default=60.0, metavar="SECONDS", help="hang up after this long"
        )
        parser.add_argument(
            "--hang-up-after-ms",
            type=int,
            default=1000,
            metavar="MS",
            help="after the last answer, hang up this much later (-1: wait for the server)",
        )
        parser.add_argument("--record", metavar="OUT.wav", help="write a stereo WAV: caller left, agent right")
        parser.add_argument("--json", action="store_true", help="print the result as JSON (no live transcript)")
        parser.add_argument(
            "--auth-token", default=None, metavar="TOKEN", help="sign requests (default: env PLIVO_AUTH_TOKEN)"
        )
        parser.add_argument("--language", default="en-us", metavar="LANG", help="the caller voice's language")
        parser.add_argument(
            "--no-turns",
            action="store_true",
            help="do not look the call's turns up in this project's database afterwards",
        )

    def handle(self, *args, **options) -> None:
        if options["barge_in_after_ms"] is not None and options["barge_in_after_ms"] < 0:
            raise CommandError("--barge-in-after-ms must be >= 0", returncode=2)
        if options["silence_ms"] < 0:
            raise CommandError("--silence-ms must be >= 0", returncode=2)
        for name in ("httpx", "httpcore", "websockets"):
            logging.getLogger(name).setLevel(logging.WARNING)
        as_json = options["json"]
        token = options["auth_token"] if options["auth_token"] is not None else settings.PLIVO_AUTH_TOKEN
        hang_up = options["hang_up_after_ms"]
        config = CallScript(
            to=options["to"],
            caller=options["caller"],
            turns=options["turns"],
            base_url=options["url"],
            auth_token=token or "",
            silence_ms=options["silence_ms"],
            barge_in_after_ms=options["barge_in_after_ms"],
            max_seconds=options["max_seconds"],
            hang_up_after_ms=None if hang_up < 0 else hang_up,
            record_path=options["record"],
            language=options["language"],
            on_event=None if as_json else self.show,
        )
        try:
            result = asyncio.run(run_call(config))
        except SimulatorError as exc:
            if as_json:
                self.stdout.write(json.dumps({"error": str(exc), "exit_code": exc.exit_code}))
            raise CommandError(str(exc), returncode=exc.exit_code) from None
        except KeyboardInterrupt:
            raise CommandError("interrupted", returncode=130) from None
        turns = None if options["no_turns"] else server_turns(result.call_uuid)
        if as_json:
            self.stdout.write(json.dumps(result.to_dict() | {"server_turns": turns}, indent=2))
            return
        if turns:
            self.stdout.write("\nWhat the server recorded (this project's database):")
            for role, text, interrupted, heard in turns:
                cut = f'  [interrupted; heard: "{heard}"]' if interrupted else ""
                self.stdout.write(f"  {role + ':':<7} {text}{cut}")
        self.stdout.write("")
        self.stdout.write(format_summary(result))
        if options["record"]:
            self.stdout.write(f"  recording:        {options['record']} (caller left, agent right)")
        if result.error:
            raise CommandError(result.error, returncode=1)

    def show(self, entry: TranscriptEntry) -> None:
        """Print one live transcript line."""
        self.stdout.write(format_entry(entry))
        sys.stdout.flush()


def server_turns(call_uuid: str, wait_s: float = 5.0) -> list[tuple[str, str, bool, str]] | None:
    """The call's turns when the server shares this project's database (e.g. `make run`), else None."""
    deadline = time.monotonic() + wait_s
    try:
        calls = Call.objects.filter(call_uuid=call_uuid)
        if not calls.exists():  # the answer request created it: another database
            return None
        while not calls.filter(stream_ended_at__isnull=False).exists() and time.monotonic() < deadline:
            time.sleep(0.1)  # the server writes the last turns when the stream has ended
        rows = Turn.objects.filter(call__call_uuid=call_uuid).order_by("sequence")
        return [tuple(row) for row in rows.values_list("role", "text", "interrupted", "heard_text")]
    except DatabaseError:
        return None
