"""The Celery app: after-call work (see calls/tasks.py)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceproject.settings")

app = Celery("voiceproject")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
