from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/calls/", permanent=False)),
    path("favicon.ico", RedirectView.as_view(url="/static/calls/favicon.svg", permanent=True)),
    path("admin/", admin.site.urls),
    path("calls/", include("calls.ui.urls")),
    path("api/", include("calls.api.urls")),  # the REST API: /api/v1/… (JSON only, JSON errors)
    path("", include("calls.plivo.urls")),
]
