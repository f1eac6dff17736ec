"""Tool calling: the request's tools (`spec`), the prompt of models without a tool-aware template (`prompt`), the
grammar that makes every call valid (`grammar`) and the calls read back out of the answer (`parse`)."""

from .parse import CallParser, with_calls
from .prompt import generic_messages, tools_block
from .spec import Tool, ToolSpec

__all__ = ["CallParser", "Tool", "ToolSpec", "generic_messages", "tools_block", "with_calls"]
