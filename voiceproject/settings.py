"""Settings for the voice agent platform: one file, driven by environment variables (see README)."""

import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from voiceproject.env import (
    database_from_url,
    database_limits_from_env,
    env_bool,
    env_int,
    env_list,
    env_str,
    env_url,
    secret_key,
    secret_key_problem,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", default=False)
# Production never signs with the public development key (env.secret_key); voiceproject/checks.py makes a missing
# or development key an error, and DJANGO_REQUIRE_SECRET_KEY=1 refuses to start right here.
SECRET_KEY_PROBLEM = "" if DEBUG else secret_key_problem(env_str("DJANGO_SECRET_KEY"))
if SECRET_KEY_PROBLEM and env_bool("DJANGO_REQUIRE_SECRET_KEY", default=False):
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set to a secret value in production")
SECRET_KEY = secret_key(env_str("DJANGO_SECRET_KEY"), DEBUG)

PUBLIC_URL = env_url("PUBLIC_URL", ("http", "https"))
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [PUBLIC_URL] if PUBLIC_URL else [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's assets, served from here: /api/v1/docs works offline
    "agents",
    "calls",
    "streaming",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "voiceproject.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "voiceproject.urls"
ASGI_APPLICATION = "voiceproject.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# PostgreSQL: a psycopg pool per process (DB_POOL_*) and a statement timeout (README "Configuration").
DATABASES = {
    "default": database_from_url(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"), database_limits_from_env()
    )
}
# PostgreSQL: the live engine's own database threads per process (calls.records: loading a call, turns, events,
# heartbeats): a slow write holds up one of them, never the other calls'. Each holds a pooled connection while it
# runs, so DB_POOL_MAX_SIZE must cover DB_WRITE_THREADS + DB_SETUP_THREADS + the request threads (README).
# SQLite writes one at a time: there the engine keeps to asgiref's one thread.
DB_WRITE_THREADS = env_int("DB_WRITE_THREADS", 4)
# Reading a call when its audio socket connects (Plivo waits for the handshake) has threads of its own: it never
# queues behind other calls' writes.
DB_SETUP_THREADS = env_int("DB_SETUP_THREADS", 2)
for _name, _threads in (("DB_WRITE_THREADS", DB_WRITE_THREADS), ("DB_SETUP_THREADS", DB_SETUP_THREADS)):
    if _threads < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1, got {_threads}")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
FORMS_URLFIELD_ASSUME_HTTPS = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
SERVE_STATIC = env_bool("SERVE_STATIC", default=False)  # let daphne serve static files (small deployments)
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
RECORDINGS_DIR = MEDIA_ROOT / "recordings"
# Synthesize each agent version's fixed lines (greeting, goodbye, …) into the shared speech store when the agent is
# saved and when a call is answered, so that no caller waits for a TTS round trip before the greeting.
SPEECH_PREPARE_LINES = env_bool("SPEECH_PREPARE_LINES", True)

LOGIN_URL = "calls-login"
LOGIN_REDIRECT_URL = "/calls/"

# --- Redis: channel layer and Celery. Without REDIS_URL everything runs in one process. ---
REDIS_URL = env_url("REDIS_URL", ("redis", "rediss", "unix"))
# The channel layer's Redis connections per process: at most REDIS_MAX_CONNECTIONS; a command waits up to
# REDIS_POOL_TIMEOUT_MS for a free one, then fails (a live event is given up, never the call); 0 = fail at once.
REDIS_MAX_CONNECTIONS = env_int("REDIS_MAX_CONNECTIONS", 100)
REDIS_POOL_TIMEOUT_MS = env_int("REDIS_POOL_TIMEOUT_MS", 500)
if REDIS_MAX_CONNECTIONS < 1 or REDIS_POOL_TIMEOUT_MS < 0:
    raise ImproperlyConfigured("REDIS_MAX_CONNECTIONS must be at least 1 and REDIS_POOL_TIMEOUT_MS at least 0")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # channels-redis whose commands wait up to REDIS_POOL_TIMEOUT_MS for a pooled connection. The CONFIG
            # is plain channels-redis CONFIG (RedisChannelLayer takes it too, then without the wait).
            "BACKEND": "calls.live.BoundedRedisChannelLayer",
            "CONFIG": {
                # socket_timeout=None: redis-py 8 otherwise drops idle receives after ~5 s (stack-notes).
                "hosts": [{"address": REDIS_URL, "socket_timeout": None, "max_connections": REDIS_MAX_CONNECTIONS}],
                "capacity": 1000,
            },
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_BROKER_URL = "memory://localhost/"  # a hostname: without one kombu warns "No hostname was supplied"
    CELERY_TASK_ALWAYS_EAGER = True
# The cache holds the Plivo signature nonces (replay refusal): shared through Redis, else per process.
if REDIS_URL:
    # One Redis connection pool per process (voiceproject/cache.py), not one per request.
    CACHES = {"default": {"BACKEND": "voiceproject.cache.SharedPoolRedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "OPTIONS": {"MAX_ENTRIES": 100_000}}
    }
CELERY_TASK_EAGER_PROPAGATES = False
# No result backend: every task ignores its result, and Celery builds a backend per thread (per webhook under ASGI).
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_TIMEZONE = TIME_ZONE
# Beat (`celery -A voiceproject worker -B`): finalize calls whose stream ended but whose hang-up never came.
ORPHAN_CALL_MINUTES = env_int("ORPHAN_CALL_MINUTES", 10)
# Without a Celery worker (eager Celery: no REDIS_URL, `make run`) the server process runs the same sweep itself
# every SWEEPER_INTERVAL_SECONDS (calls/sweeper_loop.py); 0 turns that off.
SWEEPER_INTERVAL_SECONDS = env_int("SWEEPER_INTERVAL_SECONDS", 60)
CELERY_BEAT_SCHEDULE = {
    "sweep-orphaned-calls": {
        "task": "calls.tasks.sweep_orphaned_calls",
        "schedule": 300.0,
        "kwargs": {"minutes": ORPHAN_CALL_MINUTES},
    },
    # Campaigns (calls/campaigns/): place what the calling windows and concurrency caps allow.
    "campaign-tick": {
        "task": "calls.campaigns.tasks.campaign_tick",
        "schedule": float(env_int("CAMPAIGN_TICK_SECONDS", 10)),
        "options": {"expires": float(env_int("CAMPAIGN_TICK_SECONDS", 10))},
    },
}
# Campaign calls in flight at once across all campaigns, counting every live outbound call (0 = only each
# campaign's own cap): keep it within what the Plivo account and the audio servers can hold.
CAMPAIGN_MAX_CALLS = env_int("CAMPAIGN_MAX_CALLS", 50)
# The live engine marks its calls alive this often; the sweeper ends a call whose stream has been silent for
# CALL_STALE_SECONDS (its server process died) and one whose stream never connected within ORPHAN_CALL_MINUTES.
CALL_HEARTBEAT_SECONDS = env_int("CALL_HEARTBEAT_SECONDS", 15)
# Provider deadlines of the live engine: no reply audio this long after the caller stopped talking → the fallback
# line; an LLM or TTS stream that sends nothing for this long mid-reply fails the reply.
REPLY_DEADLINE_MS = env_int("REPLY_DEADLINE_MS", 1900)
LLM_STALL_MS = env_int("LLM_STALL_MS", 1500)
TTS_STALL_MS = env_int("TTS_STALL_MS", 2000)
CALL_STALE_SECONDS = env_int("CALL_STALE_SECONDS", 120)

# --- Plivo ---
PLIVO_AUTH_ID = env_str("PLIVO_AUTH_ID")
PLIVO_AUTH_TOKEN = env_str("PLIVO_AUTH_TOKEN")
# Without the token webhooks are not authenticated: in production only with this explicit opt-out (checks.py).
PLIVO_ALLOW_UNSIGNED_WEBHOOKS = env_bool("PLIVO_ALLOW_UNSIGNED_WEBHOOKS", default=False)
PLIVO_API_URL = env_url("PLIVO_API_URL", ("http", "https"))  # tests and self-hosted fakes only
STREAM_TOKEN_MAX_AGE = env_int("STREAM_TOKEN_MAX_AGE", 4 * 3600)
# The agents' call webhooks go to public addresses only, unless this allows private ones (agents/webhook_targets.py).
WEBHOOK_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=False)
# Agents' HTTP tools call https:// URLs of public hosts only (calls/tool_http.py, agents/tool_targets.py); this
# allows private/loopback targets, and plain http:// to them, for on-premise systems and tests' local receivers.
TOOLS_ALLOW_PRIVATE_TARGETS = env_bool("TOOLS_ALLOW_PRIVATE_TARGETS", default=False)

# --- REST API (/api/v1/, calls/api/): API keys only, JSON only, every error {"error": {"code", "message"}} ---
# Requests per key: API_RATE_READ for reading, API_RATE_CALL for placing calls ("<n>/<s|min|hour|day>").
API_RATE_READ = env_str("API_RATE_READ", "120/min")
API_RATE_CALL = env_str("API_RATE_CALL", "30/min")
for _name, _rate in (("API_RATE_READ", API_RATE_READ), ("API_RATE_CALL", API_RATE_CALL)):
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", _rate):
        raise ImproperlyConfigured(f"{_name} must look like 120/min (a count, then s, min, hour or day), got {_rate!r}")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["calls.api.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["calls.api.permissions.HasApiKey"],
    "DEFAULT_THROTTLE_CLASSES": ["calls.api.throttles.KeyRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "calls.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Voice agents API",
    "DESCRIPTION": "Place outbound calls and read calls (transcripts, analysis, latency) and agents. Authenticate "
    "with `Authorization: Bearer <key>` (or `X-API-Key: <key>`); keys are created in the admin.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["calls.api.urls.without_slash_twins"],
    "ENUM_NAME_OVERRIDES": {
        "CallStatusEnum": "calls.models.Call.Status",
        "CampaignStatusEnum": "calls.campaign_models.Campaign.Status",
        "CampaignRowStatusEnum": "calls.campaign_models.CampaignRow.Status",
    },
}

# --- Speech and language providers ("auto" picks these when configured, else offline) ---
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env_url("OPENAI_BASE_URL", ("http", "https"))
AZURE_SPEECH_KEY = env_str("AZURE_SPEECH_KEY")
AZURE_SPEECH_REGION = env_str("AZURE_SPEECH_REGION")
AZURE_SPEECH_HOST = env_url("AZURE_SPEECH_HOST", ("ws", "wss"))
# Dotted path of a callable(CallConfig) -> (stt, llm, tts); tests and benchmarks use scripted providers
# (tests.fakes.scripted.create_scripted_providers, importable when the server runs from the repository root).
VOICE_PROVIDER_FACTORY = env_str("VOICE_PROVIDER_FACTORY", "streaming.providers.registry.create_providers")
# Offline speech-to-text: pocketsphinx decoders shared by all calls of a process (~13 MB each).
OFFLINE_STT_MAX_DECODERS = env_int("OFFLINE_STT_MAX_DECODERS", 4)

# --- Security (production: DJANGO_DEBUG=0 and PUBLIC_URL=https://...) ---
USE_X_FORWARDED_HOST = env_bool("USE_X_FORWARDED_HOST", default=False)
if env_bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG and PUBLIC_URL.startswith("https"))
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # Stream URLs carry a signed token (a credential): every line that passes the console has it replaced.
    "filters": {"redact_tokens": {"()": "voiceproject.redaction.RedactStreamTokens"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_tokens"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}, "daphne": {"level": "WARNING"}},
}
