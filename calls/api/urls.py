"""URLs of the REST API (mounted at /api/): version 1, its schema and docs; anything else is a JSON 404.

Each endpoint answers with and without a trailing slash; the schema lists the form without it.
"""

from django.urls import URLPattern, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from calls.api import campaigns, recording, views
from calls.api.errors import unknown_url


def both(route: str, view, name: str) -> list[URLPattern]:
    return [path(route, view, name=name), path(route + "/", view)]


urlpatterns = [
    *both("v1/calls", views.CallListCreate.as_view(), "api-calls"),
    *both("v1/calls/<int:pk>", views.CallDetail.as_view(), "api-call-detail"),
    *both("v1/calls/<int:pk>/recording", recording.CallRecording.as_view(), "api-call-recording"),
    *both("v1/agents", views.AgentList.as_view(), "api-agents"),
    *both("v1/agents/<slug:ref>", views.AgentDetail.as_view(), "api-agent-detail"),
    *both("v1/campaigns", campaigns.CampaignListCreate.as_view(), "api-campaigns"),
    *both("v1/campaigns/<int:pk>", campaigns.CampaignDetail.as_view(), "api-campaign-detail"),
    *both("v1/campaigns/<int:pk>/start", campaigns.CampaignStart.as_view(), "api-campaign-start"),
    *both("v1/campaigns/<int:pk>/pause", campaigns.CampaignPause.as_view(), "api-campaign-pause"),
    *both("v1/campaigns/<int:pk>/resume", campaigns.CampaignResume.as_view(), "api-campaign-resume"),
    *both("v1/campaigns/<int:pk>/cancel", campaigns.CampaignCancel.as_view(), "api-campaign-cancel"),
    *both("v1/campaigns/<int:pk>/rows", campaigns.CampaignRows.as_view(), "api-campaign-rows"),
    *both("v1/campaigns/<int:pk>/results", campaigns.CampaignResults.as_view(), "api-campaign-results"),
    *both("v1/schema", SpectacularAPIView.as_view(), "api-schema"),
    *both("v1/docs", SpectacularSwaggerView.as_view(url_name="api-schema"), "api-docs"),
    path("<path:rest>", unknown_url),
    path("", unknown_url),
]


def without_slash_twins(endpoints: list[tuple]) -> list[tuple]:
    """drf-spectacular preprocessing hook: document each endpoint once, without the trailing slash."""
    return [endpoint for endpoint in endpoints if not endpoint[0].endswith("/")]
