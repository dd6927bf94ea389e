"""Offline "language model": simple, honest rules instead of AI, so an agent works without keys.

It looks at the caller's last message only: goodbye -> the ``end_call`` tool; a request for a person
-> ``transfer_call`` (or an apology when the agent has no transfer number); an FAQ keyword -> that
answer, or the entry's tool (its arguments: the named groups of the entry's ``tool_pattern`` on the
caller's words); a keypad press -> the FAQ with that number (0 asks for a person); a greeting or thanks
-> a friendly line; anything else -> it repeats what it heard. After a tool: the entry's answer as a
``{field}`` template of the JSON result, else the result's "message" / "text", else a plain line.
"""

from __future__ import annotations

import asyncio
import json
import re
import string
from collections.abc import AsyncIterator
from typing import Any

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
NEED_DETAILS = "I can look that up for you. Could you give me the details?"
TOOL_FAILED = "Sorry, I couldn't get that information right now."
TOOL_DONE = "Done. Is there anything else I can help with?"
SPOKEN_RESULT_CHARS = 300

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
        answered = _tool_answers(conversation.messages)
        if answered:
            outcome: str | ToolCall = self.after_tools(*answered)
        elif conversation.tools_allowed:
            outcome = self.respond(_last_caller_message(conversation.messages))
        else:
            outcome = HOW_CAN_I_HELP
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
            return self._faq_tool(entry, message.text) if entry.tool and self.config.tool(entry.tool) else entry.answer
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

    def _faq_tool(self, entry: FaqEntry, said: str) -> str | ToolCall:
        """The entry's tool, its arguments from the named groups of ``tool_pattern`` on the caller's words."""
        arguments: dict[str, Any] = {}
        if entry.tool_pattern:
            try:
                match = re.search(entry.tool_pattern, said, re.IGNORECASE)
            except re.error:
                match = None
            if match is None:
                return NEED_DETAILS
            arguments = {k: v for k, v in match.groupdict().items() if v is not None}
        return self._tool(entry.tool, arguments)

    def after_tools(self, calls: tuple[ToolCall, ...], answers: list[Message]) -> str:
        """Speak from the tools' answers (the first that has something to say)."""
        lines = []
        for answer in answers:
            call = next((c for c in calls if c.id == answer.tool_call_id), None)
            name = call.name if call else answer.name
            entry = next((e for e in self.config.faq if e.tool and e.tool == name), None)
            lines.append(spoken_result(answer.text, entry.answer if entry else ""))
        return " ".join(dict.fromkeys(line for line in lines if line)) or TOOL_DONE

    def _tool(self, name: str, arguments: dict) -> ToolCall:
        self._tool_calls += 1
        return ToolCall(id=f"offline_{self._tool_calls}", name=name, arguments=arguments)


def _last_caller_message(messages: list[Message]) -> Message | None:
    """The newest caller or system message (a keypad press may arrive as either)."""
    return next((m for m in reversed(messages) if m.role in ("caller", "system")), None)


def _tool_answers(messages: list[Message]) -> tuple[tuple[ToolCall, ...], list[Message]] | None:
    """The calls and answers of the tool exchange that ends ``messages`` (None when they end otherwise)."""
    answers: list[Message] = []
    index = len(messages)
    while index and messages[index - 1].role == "tool" and messages[index - 1].tool_call_id:
        index -= 1
        answers.insert(0, messages[index])
    if not answers or not index or not messages[index - 1].tool_calls:
        return None
    return messages[index - 1].tool_calls, answers


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def spoken_result(result: str, template: str) -> str:
    """What to say about a tool's answer: ``template`` with its ``{fields}`` from the JSON result, else the
    result's "message" / "text", else ``template`` (when it needs no fields) or a short plain-text result."""
    value = _json(result) if result.strip() else None
    if isinstance(value, dict) and {"error", "status"} <= set(value):
        return TOOL_FAILED  # the engine's account of a failed tool (streaming.tool_loop.model_content)
    fields = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    if fields and isinstance(value, dict) and all(name in value for name in fields):
        try:
            return template.format_map(value)
        except (ValueError, IndexError, KeyError, AttributeError):
            pass
    if isinstance(value, dict):
        for key in ("message", "text"):
            if isinstance(value.get(key), str) and value[key].strip():
                return value[key].strip()
    if template.strip() and not fields:
        return template.strip()
    plain = " ".join(result.split())
    if value is None and plain and len(plain) <= SPOKEN_RESULT_CHARS and "<" not in plain:
        return plain
    return TOOL_DONE


def _word_deltas(text: str) -> list[TextDelta]:
    """``text`` as one delta per word, spaces kept, so the pieces join back to ``text``."""
    return [TextDelta(piece) for piece in re.findall(r"\S+\s*", text)]
