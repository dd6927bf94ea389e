from django.urls import re_path

from streaming.consumers import PlivoStreamConsumer

websocket_urlpatterns = [
    re_path(r"^ws/plivo/(?P<token>[^/]+)/$", PlivoStreamConsumer.as_asgi()),
]
