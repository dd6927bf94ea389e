"""One run through a real Celery worker on Redis: hang-up task -> finalize -> signed webhook, in another process."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery

from calls.models import Call, CallEvent
from tests.call_factories import dental_agent, make_call
from tests.fakes.webhook_receiver import Receiver
from tests.shared_db import SharedDatabase
from tests.test_call_metrics import KNOWN_AGGREGATES
from tests.test_finalize_task import OFFLINE_SUMMARY

ROOT = Path(__file__).resolve().parent.parent
SECRET = "worker-secret"


def start_worker(redis_url: str, database_url: str, queue: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "TEST_CELERY_QUEUE": queue,
        "OPENAI_API_KEY": "",
        "OPENAI_BASE_URL": "",
        "DJANGO_SETTINGS_MODULE": "voiceproject.settings",
        "WEBHOOK_ALLOW_PRIVATE_TARGETS": "1",  # the receiver is on 127.0.0.1
    }
    command = [sys.executable, "-m", "celery", "-A", "tests.celery_test_app", "worker", "--pool=solo", "-Q", queue,
               "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=INFO"]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def wait_for_webhook_event(call: Call, db: SharedDatabase, worker: subprocess.Popen, log: Path) -> CallEvent:
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        assert worker.poll() is None, f"worker exited:\n{log.read_text()[-3000:]}"
        db.pull()
        event = CallEvent.objects.filter(call_id=call.pk, kind__startswith="webhook").first()
        if event:
            return event
        time.sleep(0.2)
    pytest.fail(f"the worker did not finish in time:\n{log.read_text()[-3000:]}")


@pytest.mark.django_db(transaction=True)
def test_finalize_and_webhook_run_on_a_real_worker(redis_url, tmp_path):
    with Receiver([]) as receiver:
        call = make_call(dental_agent(webhook_url=receiver.url, webhook_secret=SECRET))
        db = SharedDatabase(tmp_path)
        db.push()
        queue = f"test-finalize-{uuid.uuid4().hex[:12]}"
        log = tmp_path / "worker.log"
        worker = start_worker(redis_url, db.url, queue, log)
        try:
            sender = Celery("test-sender", broker=redis_url, set_as_current=False)
            sender.send_task("calls.tasks.finalize_call", args=[call.pk], queue=queue)
            event = wait_for_webhook_event(call, db, worker, log)
        finally:
            worker.terminate()
            worker.wait(timeout=15)
            sender.close()

    assert (event.kind, event.data) == ("webhook", {"url": receiver.url, "status": 200, "attempt": 1})
    call.refresh_from_db()
    assert (call.analysis_status, call.summary, call.metrics) == ("done", OFFLINE_SUMMARY, KNOWN_AGGREGATES)
    assert call.finalized_at is not None
    [(_, headers, body)] = receiver.requests
    signed = headers["x-signature-timestamp"].encode() + b"." + body
    assert headers["x-signature"] == "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert b'"summary":"Caller: Hi, I\'d like to book a cleaning' in body
    assert "celery@" in log.read_text()  # it really was a worker process
