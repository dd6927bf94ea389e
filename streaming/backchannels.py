"""Backchannels: what a caller says to show they are listening ("mm-hmm", "okay"), per language.

A pause on the caller's voice resumes when their words are only these; anything else is a real interruption.
"""

from __future__ import annotations

import re

_COMMON = "mm mhm mmhmm mm-hmm hm hmm uh-huh uhhuh uh huh um ah oh ok okay"
BACKCHANNELS: dict[str, frozenset[str]] = {
    lang: frozenset(f"{_COMMON} {extra}".split())
    for lang, extra in {
        "en": "k yeah yep yes yup right sure alright all got it i see cool great fine good",
        "es": "sí si vale claro ajá bueno ya entiendo perfecto",
        "fr": "oui ouais d'accord bien sûr entendu je vois parfait voilà",
        "de": "ja jaja genau okay klar stimmt aha richtig gut verstehe",
        "it": "sì si certo esatto va bene capito perfetto giusto",
        "pt": "sim tá ta certo claro entendi isso beleza",
        "nl": "ja jawel precies klopt prima goed oké",
    }.items()
}
MAX_WORDS = 3  # "yeah I see" is a backchannel; a longer run of words is the caller taking the turn
_WORD = re.compile(r"[^\W\d_]+(?:[-'][^\W\d_]+)*")


def words(text: str) -> list[str]:
    """The words of ``text``, lower case, punctuation dropped (for comparing transcripts)."""
    return _WORD.findall(text.lower())


def backchannels_for(language: str) -> frozenset[str]:
    """The backchannel words of a language tag ("en-US" → English); English for a language we have no list for."""
    return BACKCHANNELS.get(language.split("-")[0].lower(), BACKCHANNELS["en"])


def is_backchannel(text: str, language: str = "en-US") -> bool:
    found = words(text)
    allowed = backchannels_for(language)
    return bool(found) and len(found) <= MAX_WORDS and all(w in allowed for w in found)


def same_words(a: str, b: str) -> bool:
    """Whether two transcripts say the same words (case and punctuation aside)."""
    return words(a) == words(b)
