"""The project's Celery app for a test worker, on its own queue (TEST_CELERY_QUEUE) so runs sharing Redis stay apart.

Used as ``celery -A tests.celery_test_app worker``: the same app, tasks and settings as ``-A voiceproject``.
"""

import os

from voiceproject.celery import app

app.conf.task_default_queue = os.environ["TEST_CELERY_QUEUE"]

__all__ = ["app"]
