"""Offline "language model": simple, honest rules instead of AI, so an agent works without keys.

It looks at the caller's last message only: goodbye -> the ``end_call`` tool; a request for a person
-> ``transfer_call`` (or an apology when the agent has no transfer number); an FAQ keyword -> that
answer; a keypad press -> the FAQ with that number (0 asks for a person); a greeting or thanks -> a
friendly line; anything else -> it repeats what it heard.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from streaming.providers.base import (
    Conversation,
    LanguageModel,
    Message,
    ReplyEvent,
    TextDelta,
    ToolCall,
    Usage,
)
from streaming.providers.config import CallConfig, FaqEntry

HELLO = "Hello! How can I help?"
WELCOME = "You're welcome! Is there anything else I can help with?"
NOBODY_AVAILABLE = "I'm sorry, no one is available to take your call right now. Is there anything I can help with?"
DID_NOT_CATCH = "Sorry, I didn't catch that. How can I help?"
HOW_CAN_I_HELP = "How can I help?"

GOODBYE_WORDS = {"goodbye", "bye", "farewell"}
GOODBYE_PHRASES = (
    "that's all", "that is all", "that's it", "nothing else", "no thanks", "no thank you",
    "hang up", "see you", "have a nice day", "have a good day",
)  # fmt: skip
PERSON_WORDS = {"person", "human", "agent", "operator", "representative"}
PERSON_PHRASES = ("talk to someone", "speak to someone", "speak with someone", "talk to somebody", "real person")
GREETING_WORDS = {"hi", "hello", "hey", "hiya"}
GREETING_PHRASES = ("good morning", "good afternoon", "good evening")
THANKS_PHRASES = ("thank you", "thanks", "cheers")
_KEYPRESS = re.compile(r"\bpressed\s+(?:the\s+)?(?:key\s+)?([0-9*#])", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")


def words_of(text: str) -> list[str]:
    """Lower-case words with a plural "s" stripped, so "hours" matches "hour"."""
    found = _WORD.findall(text.lower().replace("\u2019", "'"))
    return [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in found]


def _contains(words: list[str], phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``words`` as whole words, in order."""
    target = words_of(phrase)
    size = len(target)
    return bool(size) and any(words[i : i + size] == target for i in range(len(words) - size + 1))


def best_faq(faq: tuple[FaqEntry, ...], words: list[str]) -> FaqEntry | None:
    """The entry with the most keywords in ``words`` (its whole question counts as one more)."""
    best, best_score = None, 0
    for entry in faq:
        score = sum(_contains(words, keyword) for keyword in entry.keywords)
        score += _contains(words, entry.question)
        if score > best_score:
            best, best_score = entry, score
    return best


class OfflineResponder(LanguageModel):
    """Rule-based replies from the agent's FAQ; no network, no model, no tokens."""

    name = "offline"

    def __init__(self, config: CallConfig) -> None:
        self.config = config
        self._tool_calls = 0

    async def reply(self, conversation: Conversation) -> AsyncIterator[ReplyEvent]:
        outcome = self.respond(_last_caller_message(conversation.messages))
        if isinstance(outcome, ToolCall):
            yield outcome
        else:
            for delta in _word_deltas(outcome):
                yield delta
                await asyncio.sleep(0)  # let the consumer work between deltas, like a real stream
        yield Usage(0, 0)

    def respond(self, message: Message | None) -> str | ToolCall:
        """The reply text, or the tool to call, for the caller's last message."""
        if message is None:
            return HOW_CAN_I_HELP
        keypress = _KEYPRESS.search(message.text)
        if keypress:
            return self._keypress(keypress.group(1))
        words = words_of(message.text)
        if message.role != "caller":
            return HOW_CAN_I_HELP
        if not words:
            return DID_NOT_CATCH
        if GOODBYE_WORDS & set(words) or any(_contains(words, p) for p in GOODBYE_PHRASES):
            return self._tool("end_call", {"reason": "caller said goodbye"})
        if PERSON_WORDS & set(words) or any(_contains(words, p) for p in PERSON_PHRASES):
            return self._transfer()
        entry = best_faq(self.config.faq, words)
        if entry is not None:
            return entry.answer
        if GREETING_WORDS & set(words) or any(_contains(words, p) for p in GREETING_PHRASES):
            return HELLO
        if any(_contains(words, p) for p in THANKS_PHRASES):
            return WELCOME
        return f'I heard: "{message.text.strip()}". How else can I help?'

    def _keypress(self, key: str) -> str | ToolCall:
        if key == "0":
            return self._transfer()
        if key.isdigit() and int(key) <= len(self.config.faq):
            return self.config.faq[int(key) - 1].answer
        return f"You pressed {key}. Please tell me how I can help."

    def _transfer(self) -> str | ToolCall:
        if not self.config.transfer_number:
            return NOBODY_AVAILABLE
        return self._tool("transfer_call", {"reason": "caller asked for a person"})

    def _tool(self, name: str, arguments: dict) -> ToolCall:
        self._tool_calls += 1
        return ToolCall(id=f"offline_{self._tool_calls}", name=name, arguments=arguments)


def _last_caller_message(messages: list[Message]) -> Message | None:
    """The newest caller or system message (a keypad press may arrive as either)."""
    return next((m for m in reversed(messages) if m.role in ("caller", "system")), None)


def _word_deltas(text: str) -> list[TextDelta]:
    """``text`` as one delta per word, spaces kept, so the pieces join back to ``text``."""
    return [TextDelta(piece) for piece in re.findall(r"\S+\s*", text)]
