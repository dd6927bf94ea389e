from django.urls import path

from calls import health
from calls.plivo import webhooks

urlpatterns = [
    path("plivo/answer/", webhooks.answer, name="plivo-answer"),
    path("plivo/hangup/", webhooks.hangup, name="plivo-hangup"),
    path("plivo/stream-status/", webhooks.stream_status, name="plivo-stream-status"),
    path("plivo/transfer/", webhooks.transfer, name="plivo-transfer"),
    path("healthz", health.healthz, name="healthz"),
]
