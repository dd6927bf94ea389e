"""Who answers a call: agents, their knowledge, and the phone numbers that reach them."""

from __future__ import annotations

import secrets

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.utils.text import slugify

from agents.choices import INTERRUPTION_CHOICES, LLM_CHOICES, STT_CHOICES, TTS_CHOICES, VOICEMAIL_CHOICES
from agents.validators import validate_e164, validate_identifier, validate_language


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class Agent(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(
        max_length=120, unique=True, blank=True, help_text="Short identifier; filled from the name when left empty."
    )
    enabled = models.BooleanField(default=True, help_text="Disabled agents do not answer calls.")

    system_prompt = models.TextField(
        "persona / system prompt", blank=True, help_text="Who the agent is and how it behaves. Sent to the LLM first."
    )
    greeting = models.CharField(
        max_length=500, blank=True, help_text="First words on the call, spoken as soon as the audio stream opens."
    )
    goodbye_message = models.CharField(
        max_length=500, default="Thank you for calling. Goodbye!", help_text="Spoken before the agent hangs up."
    )

    language = models.CharField(
        max_length=35, default="en-US", validators=[validate_language], help_text="BCP-47 tag, e.g. en-US."
    )
    voice = models.CharField(
        max_length=100,
        default="en-US-JennyNeural",
        help_text="Azure neural voice name (the offline voice follows the language).",
    )
    speaking_rate = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(0.5), MaxValueValidator(2.0)],
        help_text="Speech speed, 0.5–2.0 (1.0 = normal).",
    )

    llm_model = models.CharField("LLM model", max_length=100, default="gpt-4o-mini")
    temperature = models.FloatField(
        default=0.7,
        validators=[MinValueValidator(0.0), MaxValueValidator(2.0)],
        help_text="0 = focused and repeatable, 2 = most varied.",
    )
    max_tokens = models.PositiveIntegerField(
        default=300,
        validators=[MinValueValidator(1), MaxValueValidator(4096)],
        help_text="Upper bound on the length of one reply.",
    )
    stt_provider = models.CharField("speech-to-text", max_length=20, choices=STT_CHOICES, default="auto")
    llm_provider = models.CharField("language model", max_length=20, choices=LLM_CHOICES, default="auto")
    tts_provider = models.CharField("text-to-speech", max_length=20, choices=TTS_CHOICES, default="auto")

    end_of_speech_ms = models.PositiveIntegerField(
        default=600,
        validators=[MinValueValidator(200), MaxValueValidator(5000)],
        help_text="Silence (ms) after which the caller is considered done speaking.",
    )
    silence_timeout_seconds = models.PositiveIntegerField(
        default=8,
        validators=[MinValueValidator(2), MaxValueValidator(120)],
        help_text="If the caller says nothing for this long after the agent spoke, the agent reprompts.",
    )
    reprompt_text = models.CharField(max_length=500, default="Are you still there?")
    fallback_line = models.CharField(
        max_length=500,
        default="Sorry, I didn't catch that — could you say it again?",
        help_text="Spoken when a reply cannot be produced (a provider failed).",
    )
    max_reprompts = models.PositiveIntegerField(
        default=2, validators=[MaxValueValidator(10)], help_text="Reprompts before the agent says goodbye and hangs up."
    )
    max_call_seconds = models.PositiveIntegerField(
        default=900,
        validators=[MinValueValidator(30), MaxValueValidator(4 * 3600)],
        help_text="The agent ends the call after this long.",
    )
    end_call_phrases = models.TextField(
        blank=True,
        default="goodbye\nbye bye\nthat's all",
        help_text="One per line. When the caller says one, the agent says goodbye and hangs up.",
    )

    barge_in_enabled = models.BooleanField(
        "barge-in", default=True, help_text="Let the caller interrupt the agent by speaking."
    )
    barge_in_min_speech_ms = models.PositiveIntegerField(
        default=150,
        validators=[MinValueValidator(60), MaxValueValidator(3000)],
        help_text="Caller speech needed (ms) before the agent stops talking (pauses, in the resume mode).",
    )
    interruption_mode = models.CharField(
        "when the caller talks over the agent",
        max_length=10,
        choices=INTERRUPTION_CHOICES,
        default="resume",
        help_text="Resume: stop on the caller's voice at once, and go on from the first unheard word when it was "
        "only “mm-hmm”, “okay” or noise. Words: keep talking until a real word is recognised, then stop.",
    )
    preemptive_reply = models.BooleanField(
        "reply before the final transcript",
        default=True,
        help_text="Start the reply on the caller's last partial words when they stop talking; it is kept only if "
        "the final transcript says the same (a mismatch costs one extra language-model request).",
    )
    transfer_number = models.CharField(
        max_length=16,
        blank=True,
        validators=[validate_e164],
        help_text="E.164 number to transfer to when the caller asks for a person.",
    )
    transfer_line = models.CharField(
        max_length=500,
        default="Please hold while I transfer you.",
        help_text="Spoken before the call is transferred.",
    )
    record_calls = models.BooleanField(default=False, help_text="Store a stereo recording of every call.")

    machine_detection = models.BooleanField(
        "detect answering machines",
        default=True,
        help_text="On outbound calls, ask Plivo whether a person or a machine answered.",
    )
    voicemail_action = models.CharField(
        "when a machine answers", max_length=10, choices=VOICEMAIL_CHOICES, default="message"
    )
    voicemail_message = models.CharField(
        max_length=500,
        default="Hello, sorry we missed you. We will try again later. Goodbye!",
        help_text="Left after the beep on outbound calls a machine answers. {{variables}} are filled in.",
    )
    ring_timeout_seconds = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(5), MaxValueValidator(120)],
        help_text="How long an outbound call rings before it counts as not answered.",
    )

    memory_enabled = models.BooleanField(
        "remember returning callers",
        default=False,
        help_text="Put the caller's earlier call summaries and notes into the prompt (the caller's number is kept).",
    )
    memory_depth = models.PositiveIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text="How many earlier calls' summaries the agent remembers.",
    )
    drafts = models.BooleanField(
        "edits are drafts",
        default=False,
        help_text="Off: every saved change takes the next call. On: changes wait in the draft until published; "
        "calls use the published version (test numbers take the draft).",
    )
    publish_after_scenarios = models.BooleanField(
        "publish only tested versions", default=False, help_text="Publish a version once all its scenarios passed."
    )
    published_version = models.ForeignKey(
        "agents.AgentVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        help_text="The version calls run (with drafts on).",
    )
    tools = models.ManyToManyField(
        "agents.Tool", blank=True, related_name="agents", help_text="HTTP tools the agent may call during a call."
    )

    summary_instructions = models.TextField(blank=True, help_text="What the after-call summary should focus on.")
    webhook_url = models.URLField(blank=True, help_text="Receives the call's results as signed JSON after the call.")
    webhook_secret = models.CharField(
        max_length=64,
        default=new_webhook_secret,
        help_text="HMAC-SHA256 key for the X-Signature header of webhook calls.",
    )

    version = models.PositiveIntegerField(default=1, editable=False)
    defer_versioning = False  # not a field: set while a save's version is recorded by its caller (the admin)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        """Saved, then a version recorded if behaviour changed (``agents.versioning``; ``defer_versioning``: later)."""
        if not self.slug:
            self.slug = self._unique_slug(slugify(self.name) or "agent")
        adding = self._state.adding
        with transaction.atomic():  # the post-save line preparation (on commit) sees the recorded version
            super().save(*args, **kwargs)
            if not self.defer_versioning:
                from agents.versioning import record_saved

                record_saved(self, adding)

    def bump_version(self) -> None:
        """Record a new version if related config (FAQ, fields, tools, destinations) changed."""
        from agents.versioning import record_version

        record_version(self)

    def _unique_slug(self, base: str) -> str:
        slug, n = base[:110], 2
        while Agent.objects.filter(slug=slug).exclude(pk=self.pk).exists():
            slug, n = f"{base[:110]}-{n}", n + 1
        return slug

    @property
    def end_call_phrase_list(self) -> list[str]:
        return [p.strip().lower() for p in self.end_call_phrases.splitlines() if p.strip()]

    def snapshot(self) -> dict:
        """The whole configuration a call runs with, as plain JSON."""
        data = self.snapshot_without_relations()
        data["faq"] = [e.as_dict() for e in self.faq_entries.select_related("tool")]
        data["extraction_fields"] = [f.as_dict() for f in self.extraction_fields.all()]
        data["tools"] = [t.as_dict() for t in self.tools.all()]
        data["transfer_destinations"] = [d.as_dict() for d in self.transfer_destinations.all()]
        return data

    @classmethod
    def default_snapshot(cls) -> dict:
        """The snapshot of an agent with every field at its default: the one place call defaults come from."""
        return Agent(name="Agent", version=1).snapshot_without_relations() | {name: [] for name in RELATIONS}

    def snapshot_without_relations(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in self._meta.concrete_fields if f.name not in NOT_SNAPSHOTTED}
        data["end_call_phrases"] = self.end_call_phrase_list
        return data

    @transaction.atomic
    def duplicate(self) -> Agent:
        """A disabled copy with the same knowledge, tools and transfer destinations, and no phone numbers."""
        faq, fields = list(self.faq_entries.all()), list(self.extraction_fields.all())
        destinations, tools = list(self.transfer_destinations.all()), list(self.tools.all())
        copy = Agent.objects.get(pk=self.pk)
        copy.pk, copy._state.adding = None, True
        copy.name, copy.slug, copy.enabled = f"{self.name} (copy)", "", False
        copy.version, copy.webhook_secret = 1, new_webhook_secret()
        copy.published_version, copy.defer_versioning = None, True
        copy.save()
        for item in [*faq, *fields, *destinations]:
            item.pk, item.agent = None, copy
            item.save()
        copy.tools.set(tools)
        copy.defer_versioning = False
        copy.bump_version()
        return copy


RELATIONS = ("faq", "extraction_fields", "tools", "transfer_destinations")
NOT_SNAPSHOTTED = (
    "created_at",
    "updated_at",
    "webhook_secret",
    "drafts",
    "published_version",
    "publish_after_scenarios",
)
REQUIRED_TEXT = tuple(
    f.name
    for f in Agent._meta.concrete_fields
    if isinstance(f, models.CharField) and not f.blank and f.has_default() and f.name not in NOT_SNAPSHOTTED
)


def complete_snapshot(snapshot: dict) -> dict:
    """``snapshot`` with every missing key, and every emptied required line, taken from the model's defaults.

    Calls store the snapshot they started with; one stored before a field existed still runs with that field's
    default, so the engine never needs defaults of its own.
    """
    defaults = Agent.default_snapshot()
    merged = defaults | {k: v for k, v in snapshot.items() if v is not None}
    for name in REQUIRED_TEXT:
        if not str(merged.get(name) or "").strip():
            merged[name] = defaults[name]
    return merged


class FaqEntry(models.Model):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="faq_entries")
    question = models.CharField(max_length=300)
    keywords = models.CharField(max_length=300, help_text="Comma-separated words or phrases that trigger this answer.")
    answer = models.TextField()
    position = models.PositiveIntegerField(default=0)
    tool = models.ForeignKey(
        "agents.Tool",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="faq_entries",
        help_text="Offline responder: call this tool instead of answering (try tools with no keys).",
    )
    tool_pattern = models.CharField(
        max_length=300,
        blank=True,
        help_text=r"Regex on the caller's words whose named groups become the tool's arguments, "
        r"e.g. order (?P<order_id>\d+).",
    )

    class Meta:
        ordering = ["position", "id"]
        verbose_name = "FAQ entry"
        verbose_name_plural = "FAQ entries"

    def __str__(self) -> str:
        return self.question

    @property
    def keyword_list(self) -> list[str]:
        return [k.strip().lower() for k in self.keywords.split(",") if k.strip()]

    def as_dict(self) -> dict:
        return {
            "question": self.question,
            "keywords": self.keyword_list,
            "answer": self.answer,
            "tool": self.tool.name if self.tool_id and self.tool else "",
            "tool_pattern": self.tool_pattern,
        }


class ExtractionField(models.Model):
    TYPES = [
        ("string", "Text"),
        ("number", "Number"),
        ("integer", "Whole number"),
        ("boolean", "Yes/no"),
        ("date", "Date"),
        ("email", "E-mail"),
        ("phone", "Phone number"),
    ]
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="extraction_fields")
    name = models.CharField(max_length=63, validators=[validate_identifier])
    type = models.CharField(max_length=10, choices=TYPES, default="string")
    description = models.CharField(
        max_length=300, blank=True, help_text="Tells the model what to extract, e.g. 'the caller's order number'."
    )

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["agent", "name"], name="unique_field_per_agent")]

    def __str__(self) -> str:
        return self.name

    def as_dict(self) -> dict:
        return {"name": self.name, "type": self.type, "description": self.description}


from agents.actions import Tool, TransferDestination  # noqa: E402 - models of this app, in their own modules
from agents.memory import CallerNote  # noqa: E402
from agents.numbers import PhoneNumber, normalize_number  # noqa: E402
from agents.versions import AgentVersion  # noqa: E402

__all__ = [
    "Agent",
    "AgentVersion",
    "CallerNote",
    "ExtractionField",
    "FaqEntry",
    "PhoneNumber",
    "Tool",
    "TransferDestination",
    "normalize_number",
]
