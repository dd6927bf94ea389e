from django.urls import path

from calls import health
from calls.plivo import listen_webhooks, outbound_webhooks, transfer_webhooks, webhooks

urlpatterns = [
    path("plivo/answer/", webhooks.answer, name="plivo-answer"),
    path("plivo/hangup/", webhooks.hangup, name="plivo-hangup"),
    path("plivo/stream-status/", webhooks.stream_status, name="plivo-stream-status"),
    path("plivo/transfer/", transfer_webhooks.transfer, name="plivo-transfer"),
    path("plivo/transfer/whisper/<str:token>/", transfer_webhooks.whisper, name="plivo-transfer-whisper"),
    path("plivo/transfer/dial-action/", transfer_webhooks.dial_action, name="plivo-transfer-dial-action"),
    path("plivo/ring/", outbound_webhooks.ring, name="plivo-ring"),
    path("plivo/listen/dial-action/", listen_webhooks.dial_action, name="plivo-listen-dial-action"),
    path("plivo/machine-detection/", outbound_webhooks.machine_detection, name="plivo-machine-detection"),
    path("healthz", health.healthz, name="healthz"),
]
