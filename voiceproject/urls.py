from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("calls/", include("calls.ui_urls")),
    path("", include("calls.urls")),
]
