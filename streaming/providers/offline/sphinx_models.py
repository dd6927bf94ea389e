"""Per-agent vocabulary, language model and phrase grammar for the offline recognizer (pocketsphinx).

The bundled US-English model decodes 8 kHz telephone speech poorly with its full 130k-word language
model (measured on eSpeak speech: 8/53 known phrases exact, 96 MB, ~0.25 s CPU per second of audio).
A small language model made of the agent's phrases (FAQ questions and keywords, common call phrases)
plus the 3000 most frequent English words keeps free text possible and is biased toward what this
agent's callers say: 65 % exact alone, ~12 MB, ~0.07 s CPU per second. A grammar of the known phrases
then re-checks each utterance, and ``choose_text`` settles on the wording: 81 % exact (172/212 over
four syntheses of the 53 phrases), FAQ questions 100 %, and 0/48 unrelated sentences turned into a
known phrase.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import io
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass

from pocketsphinx import Config, Decoder, LogMath, NGramModel, get_model_path
from pocketsphinx.lm import ArpaBoLM

from streaming.providers.config import CallConfig

COMMON_WORD_COUNT = 3000
# Keeping pocketsphinx's second (flat-lexicon) pass costs ~30-80 ms of GIL-holding C time at each
# end_utt and ~0.07 s instead of ~0.06 s CPU per second of speech, but measured 82 % exact known
# phrases instead of 77 % and fewer wrong snaps (8 instead of 13 of 66 other utterances).
DECODER_OPTIONS = {"loglevel": "FATAL"}
GRAMMAR_SEARCH = "phrases"
COMMON_PHRASES = (
    "hello", "hi", "hi there", "hello there", "good morning", "good afternoon", "good evening",
    "goodbye", "bye", "bye bye", "thank you", "thanks", "thank you goodbye", "that's all", "that's it",
    "yes", "yes please", "no", "no thanks", "no thank you", "okay", "sure",
    "talk to a person", "i want to talk to a person", "can i talk to a person", "speak to a human",
    "i want to speak to a human", "can i speak to someone", "i want to speak to someone",
    "operator", "agent", "representative", "a real person please", "transfer me",
    "what are your opening hours", "when are you open", "what time do you open", "what time do you close",
    "how much does it cost", "what are your prices", "where are you located", "what is your address",
    "can i book an appointment", "i would like to make an appointment",
    "can you repeat that", "say that again", "i don't understand", "help", "i need help",
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "zero",
)  # fmt: skip
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")


def normalize(text: str) -> str:
    """Lower-case words (apostrophes kept), everything else dropped: "What's up?!" -> "what's up"."""
    return " ".join(_WORD.findall(text.lower().replace("\u2019", "'")))


@dataclass(frozen=True)
class Domain:
    """What one agent's callers are expected to say; ``key`` identifies it in the decoder pool."""

    phrases: tuple[str, ...]  # whole utterances to recognize exactly (normalized)
    keywords: tuple[str, ...]  # words or short phrases to favour (normalized)

    @property
    def key(self) -> str:
        return hashlib.sha1("\n".join((*self.phrases, "", *self.keywords)).encode()).hexdigest()[:16]


def domain_for(config: CallConfig) -> Domain:
    """The agent's FAQ questions and keywords plus the common call phrases."""
    phrases = dict.fromkeys(normalize(p) for p in (*COMMON_PHRASES, *(e.question for e in config.faq)))
    keywords = dict.fromkeys(normalize(k) for e in config.faq for k in e.keywords)
    return Domain(tuple(p for p in phrases if p), tuple(k for k in keywords if k))


def _dictionary_path() -> str:
    return get_model_path("en-us/cmudict-en-us.dict")


def _dictionary_lines(words: set[str]) -> list[str]:
    """The pronunciation lines (alternates included) of those ``words`` that the dictionary knows."""
    lines = []
    with open(_dictionary_path(), encoding="utf-8") as dictionary:
        for line in dictionary:
            head = line.split(" ", 1)[0]
            if head.split("(", 1)[0] in words:
                lines.append(line)
    return lines


@functools.cache
def common_words(count: int = COMMON_WORD_COUNT) -> tuple[str, ...]:
    """The ``count`` most likely words of the bundled language model (~0.5 s, once per process)."""
    with open(_dictionary_path(), encoding="utf-8") as dictionary:
        words = {line.split(" ", 1)[0] for line in dictionary if "(" not in line.split(" ", 1)[0]}
    model = NGramModel(Config(), LogMath(), get_model_path("en-us/en-us.lm.bin"))
    ranked = sorted(words, key=lambda word: (-model.prob([word]), word))
    return tuple(ranked[:count])


def _language_model_text(lines: Iterable[str], extra_words: Iterable[str]) -> str:
    builder = ArpaBoLM(text="\n".join(lines), add_start=True)
    for word in extra_words:
        builder.grams_1.setdefault(word, 1)
    builder.compute()
    out = io.StringIO()
    builder.write(out)
    return out.getvalue()


def _grammar(phrases: Iterable[str]) -> str:
    return "#JSGF V1.0;\ngrammar phrases;\npublic <phrase> = " + " | ".join(phrases) + ";\n"


def build_decoder(domain: Domain) -> Decoder:
    """A decoder whose default search is the domain language model, plus the phrase grammar (~50 ms)."""
    corpus_words = {w for line in domain.phrases + domain.keywords for w in line.split()}
    dictionary = _dictionary_lines(corpus_words | set(common_words()))
    known = {line.split(" ", 1)[0].split("(", 1)[0] for line in dictionary}
    lines = [" ".join(w for w in line.split() if w in known) for line in domain.phrases + domain.keywords]
    grammar_phrases = [p for p in domain.phrases if all(w in known for w in p.split())]
    lm_text = _language_model_text([line for line in lines if line], common_words())
    with tempfile.TemporaryDirectory(prefix="sphinx-") as folder:
        dict_path, lm_path = os.path.join(folder, "words.dict"), os.path.join(folder, "domain.lm")
        with open(dict_path, "w", encoding="utf-8") as out:
            out.writelines(dictionary)
        with open(lm_path, "w", encoding="utf-8") as out:
            out.write(lm_text)
        decoder = Decoder(lm=lm_path, dict=dict_path, **DECODER_OPTIONS)
    decoder.add_jsgf_string(GRAMMAR_SEARCH, _grammar(grammar_phrases))
    return decoder


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.split(), b.split()).ratio()


def choose_text(free_text: str, grammar_text: str, domain: Domain) -> str:
    """The final wording: a known phrase when the evidence agrees on it, the free transcript otherwise.

    The grammar always finds *some* phrase, so its answer counts only when it is a complete phrase
    and shares at least half its words with the free transcript. Failing that, a free transcript
    that is nearly a known phrase (>= 75 % of the words in order) snaps to that phrase.
    """
    if grammar_text in domain.phrases and _similarity(free_text, grammar_text) >= 0.5:
        return grammar_text
    if free_text and free_text not in domain.phrases:
        best = max(domain.phrases, key=lambda phrase: _similarity(free_text, phrase), default="")
        if best and _similarity(free_text, best) >= 0.75:
            return best
    return free_text
