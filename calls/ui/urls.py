"""URLs of the call browser (mounted at /calls/)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from calls.ui import dashboard, exports, place_call, recordings, replay, views

urlpatterns = [
    path("", views.call_list, name="call-list"),
    path("export.csv", exports.export_csv, name="call-export-csv"),
    path("dashboard/", dashboard.dashboard, name="call-dashboard"),
    path("<int:pk>/", views.call_detail, name="call-detail"),
    path("<int:pk>/transcript.txt", exports.export_text, name="call-export-text"),
    path("<int:pk>/call.json", exports.export_json, name="call-export-json"),
    path("<int:pk>/recording.wav", recordings.recording, name="call-recording"),
    path("<int:pk>/live/", views.live_call, name="call-live"),
    path("<int:pk>/hangup/", views.hangup_call, name="call-hangup"),
    path("<int:pk>/replay/", replay.replay_call, name="call-replay"),
    path("replays/<int:pk>/", replay.replay_run, name="call-replay-run"),
    path("place/<int:agent_id>/", place_call.place_call_view, name="call-place"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="calls/login.html", redirect_authenticated_user=True),
        name="calls-login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="calls-login"), name="calls-logout"),
]
