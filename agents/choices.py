"""The choices of the agent's settings (labels as the admin shows them)."""

STT_CHOICES = [
    ("auto", "Auto (Azure when configured, else offline)"),
    ("azure", "Azure Speech"),
    ("offline", "Offline (pocketsphinx)"),
]
LLM_CHOICES = [
    ("auto", "Auto (OpenAI when configured, else offline)"),
    ("openai", "OpenAI-compatible"),
    ("offline", "Offline (no AI)"),
]
TTS_CHOICES = [
    ("auto", "Auto (Azure when configured, else offline)"),
    ("azure", "Azure Speech"),
    ("offline", "Offline (eSpeak NG)"),
]
VOICEMAIL_CHOICES = [
    ("message", "Leave the voicemail message"),
    ("hangup", "Hang up"),
]
INTERRUPTION_CHOICES = [
    ("resume", "Stop on voice, resume after “mm-hmm” or noise"),
    ("words", "Stop once a real word is recognised"),
]
