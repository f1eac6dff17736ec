"""Tool calling: the request's tools (`spec`), how a model writes calls (`formats`), the prompt of models without a
tool-aware template (`prompt`), the grammar that makes every call valid (`grammar`) and the calls read back out of
the answer (`parse`)."""

from .formats import GENERIC, CallFormat, call_format
from .parse import CallParser, with_calls
from .prompt import generic_messages, local_view, tools_block
from .spec import Tool, ToolSpec

__all__ = ["GENERIC", "CallFormat", "CallParser", "Tool", "ToolSpec", "call_format", "generic_messages", "local_view",
           "tools_block", "with_calls"]
