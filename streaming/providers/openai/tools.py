"""What the language model may call (OpenAI function calling), and a conversation's tool exchanges as chat messages.

Built-ins: ``end_call`` always; ``transfer_call`` when the agent has somewhere to transfer to (named destinations,
or the legacy transfer number as "default"); ``send_dtmf`` on outbound calls (navigating another company's phone
menu); ``remember`` / ``recall`` when the agent's memory is on. Then the agent's HTTP tools, by name (a tool named
like a built-in is left out: the built-in wins).
"""

from __future__ import annotations

import json
from typing import Any

from streaming.providers.base import Conversation, Message
from streaming.providers.config import CallConfig

ROLE_NAMES = {"caller": "user", "agent": "assistant", "system": "system", "tool": "system"}
BUILT_INS = frozenset({"end_call", "transfer_call", "send_dtmf", "remember", "recall"})
DEFAULT_DESTINATION = "default"


def function(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    parameters = {"type": "object", "properties": properties, "required": required}
    return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}


def _reason(text: str) -> dict[str, Any]:
    return {"type": "string", "description": text}


END_CALL_TOOL = function(
    "end_call",
    "Hang up the phone call: the caller said goodbye, asked to end the call, or the conversation is complete.",
    {"reason": _reason("Why the call is ending, in a few words.")},
    ["reason"],
)
SEND_DTMF_TOOL = function(
    "send_dtmf",
    "Press keys on the phone keypad (DTMF tones), to navigate an automated phone menu of the other party, "
    "e.g. when a recording says 'press 2 for billing'. Never for a person.",
    {"digits": {"type": "string", "pattern": "^[0-9*#A-Da-d]{1,32}$", "description": "The keys, e.g. 2 or 1234#."}},
    ["digits"],
)
REMEMBER_TOOL = function(
    "remember",
    "Keep a short note about this caller for their next calls (a preference, an open issue, a name).",
    {"note": {"type": "string", "description": "One sentence to remember."}},
    ["note"],
)
RECALL_TOOL = function(
    "recall",
    "Read the notes kept about this caller on earlier calls.",
    {},
    [],
)


def destinations(config: CallConfig) -> list[tuple[str, str]]:
    """(name, description) of every place ``transfer_call`` may go; the legacy transfer number as "default"."""
    named = [(d.name, d.description) for d in config.transfer_destinations]
    if config.transfer_number and DEFAULT_DESTINATION not in {name for name, _ in named}:
        named.append((DEFAULT_DESTINATION, "A human colleague (the general line)."))
    return named


def transfer_tool(config: CallConfig) -> dict[str, Any] | None:
    places = destinations(config)
    if not places:
        return None
    properties: dict[str, Any] = {"reason": _reason("Why the caller is being transferred, in a few words.")}
    required = ["reason"]
    description = "Transfer the caller to a human colleague, when they ask for a person or you cannot help them."
    if config.transfer_destinations:
        listed = "; ".join(f"{name}: {text}" if text else name for name, text in places)
        description += f" Destinations: {listed}."
        properties["destination"] = {
            "type": "string",
            "enum": [name for name, _ in places],
            "description": "Where to transfer the caller.",
        }
        properties["summary"] = {
            "type": "string",
            "description": "One or two sentences for the person who takes the call: who is calling and what about.",
        }
        required = ["destination", "reason", "summary"]
    return function("transfer_call", description, properties, required)


def tools_for(config: CallConfig, *, outbound: bool = False) -> list[dict[str, Any]]:
    """The functions offered to the model on this call."""
    tools = [END_CALL_TOOL]
    if transfer := transfer_tool(config):
        tools.append(transfer)
    if outbound:
        tools.append(SEND_DTMF_TOOL)
    if config.memory_enabled:
        tools += [REMEMBER_TOOL, RECALL_TOOL]
    for tool in config.tools:
        if tool.name not in BUILT_INS:
            spec = {"name": tool.name, "description": tool.description, "parameters": dict(tool.parameters)}
            tools.append({"type": "function", "function": spec})
    return tools


def chat_message(message: Message) -> dict[str, Any]:
    if message.role == "agent" and message.tool_calls:
        return {
            "role": "assistant",
            "content": message.text or None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments, ensure_ascii=False)},
                }
                for call in message.tool_calls
            ],
        }
    if message.role == "tool" and message.tool_call_id:
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.text or "(empty)"}
    text = f"Tool result: {message.text}" if message.role == "tool" else message.text
    return {"role": ROLE_NAMES.get(message.role, "user"), "content": text}


def consistent(messages: list[Message]) -> list[Message]:
    """``messages`` as the API accepts them: every tool call answered right after it asks (an unanswered call is
    dropped, the words kept), every tool answer after its call (an orphan becomes a note), no empty turns."""
    result: list[Message] = []
    index = 0
    while index < len(messages):
        message = messages[index]
        index += 1
        if message.role == "agent" and message.tool_calls:
            answers = []
            while index < len(messages) and messages[index].role == "tool" and messages[index].tool_call_id:
                answers.append(messages[index])
                index += 1
            answered = {a.tool_call_id for a in answers}
            calls = tuple(c for c in message.tool_calls if c.id in answered)
            asked = {c.id for c in calls}
            if calls:
                result.append(Message("agent", message.text, tool_calls=calls))
                result += [a for a in answers if a.tool_call_id in asked]
            elif message.text.strip():
                result.append(Message("agent", message.text))
            result += [_note(a) for a in answers if a.tool_call_id not in asked]
        elif message.role == "tool" and message.tool_call_id:
            result.append(_note(message))
        elif message.text.strip():
            result.append(message)
    return result


def _note(answer: Message) -> Message:
    """A tool answer without its call, as a plain note to the model."""
    return Message("tool", f"{answer.name or 'tool'}: {answer.text}")


def build_chat(messages: list[Message]) -> list[dict[str, Any]]:
    return [chat_message(m) for m in consistent(messages)]


def tool_request_options(conversation: Conversation) -> dict[str, Any]:
    """``tools`` (always: the messages may hold tool calls), and ``tool_choice`` "none" when the model must
    answer in words, else "auto" with parallel calls."""
    tools = tools_for(conversation.config, outbound=conversation.outbound)
    if not conversation.tools_allowed:
        return {"tools": tools, "tool_choice": "none"}
    return {"tools": tools, "tool_choice": "auto", "parallel_tool_calls": True}
