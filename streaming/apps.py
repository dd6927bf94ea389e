from django.apps import AppConfig


class StreamingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "streaming"
    verbose_name = "Live call engine"

    def ready(self) -> None:
        from streaming import tasks  # noqa: F401 - registers the scenario task wherever calls/ may queue it
