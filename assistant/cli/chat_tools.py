"""`hearth chat --tools FILE.json`: tools from a file in OpenAI's `tools` shape, and how calls are shown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..engine.events import ToolCall
from ..errors import InvalidRequestError
from ..tools import Tool, ToolSpec

CHOICES = ("auto", "none", "required")


def _tool(i: int, entry: Any) -> Tool:
    # A bare function object ({"name": ..., "parameters": ...}, as llm and Ollama's docs write tools) works too.
    fn = entry.get("function", entry) if isinstance(entry, dict) else None
    if isinstance(entry, dict) and entry.get("type", "function") != "function":
        raise InvalidRequestError(f"--tools: entry {i}: type '{entry['type']}' is not supported (only 'function')",
                                  param="--tools")
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise InvalidRequestError(f"--tools: entry {i} is not a function with a name (OpenAI's tools shape: "
                                  '{"type": "function", "function": {"name": ..., "parameters": {...}}})',
                                  param="--tools")
    params = fn.get("parameters") or {}
    if not isinstance(params, dict):
        raise InvalidRequestError(f"--tools: entry {i}: parameters must be a JSON Schema object", param="--tools")
    return Tool(name=fn["name"], description=str(fn.get("description") or ""), parameters=params)


def load_tools(path: str, choice: str = "auto") -> ToolSpec:
    """The tools of a JSON file (a list in OpenAI's `tools` shape) and `choice` (`auto`, `none`, `required` or a
    tool's name). Raises InvalidRequestError (one line: the file, the entry, or the schema keyword at fault)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidRequestError(f"--tools: cannot read {path}: {exc.strerror}", param="--tools") from None
    except ValueError as exc:
        raise InvalidRequestError(f"--tools: {path} is not JSON: {exc}", param="--tools") from None
    if not isinstance(data, list):
        raise InvalidRequestError(f"--tools: {path} must hold a JSON list of tools", param="--tools")
    if not data:
        raise InvalidRequestError(f"--tools: {path} holds no tools (an empty list)", param="--tools")
    tools = tuple(_tool(i, entry) for i, entry in enumerate(data))
    named = choice not in CHOICES
    spec = ToolSpec(tools=tools, choice="named" if named else choice, name=choice if named else None)  # type: ignore[arg-type]
    _ = spec.grammar  # schemas the grammar cannot enforce are refused now, before the model loads
    return spec


def call_text(call: ToolCall) -> str:
    """One line for a terminal: `→ name({"arg": 1})`."""
    return f"→ {call.name}({call.arguments})"


def call_json(call: ToolCall) -> dict[str, Any]:
    """A call in `--json` output (arguments as an object)."""
    return {"id": call.id, "name": call.name, "arguments": json.loads(call.arguments)}
