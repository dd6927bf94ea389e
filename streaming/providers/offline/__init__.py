"""Offline providers: no network and no keys. pocketsphinx speech-to-text (``stt``), a rule-based responder
(``responder``), eSpeak NG text-to-speech (``tts``) and a word-list after-call analysis (``analysis``)."""
