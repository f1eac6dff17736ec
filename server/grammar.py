"""Grammars for constrained output: a JSON Schema (`response_format`) converted to GBNF, or GBNF given as is
(llama.cpp's `grammar` extension), each checked so that llama.cpp can take it. The conversion itself is the core's
(`assistant.json_grammar`); it can take seconds for a large schema: callers run it off the event loop.
"""

from __future__ import annotations

from assistant.engine.llamacpp_sampler import check_grammar
from assistant.errors import InvalidRequestError
from assistant.json_grammar import MAX_SCHEMA_DEPTH, schema_grammar

from .schemas import ResponseFormat


def grammar_for(fmt: ResponseFormat | None) -> str | None:
    """A GBNF grammar enforcing `response_format` (None for plain text)."""
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return schema_grammar(None, "response_format")
    if fmt.json_schema is None:
        raise InvalidRequestError("response_format.json_schema is required for type 'json_schema'",
                                  param="response_format.json_schema")
    return schema_grammar(fmt.json_schema.schema_, "response_format.json_schema")


def user_grammar(grammar: str | None) -> str | None:
    """A client's GBNF grammar, refused if llama.cpp could not parse it safely (errors in it are reported by the
    engine when it is compiled)."""
    if grammar is not None:
        check_grammar(grammar, "grammar")
    return grammar


__all__ = ["MAX_SCHEMA_DEPTH", "grammar_for", "schema_grammar", "user_grammar"]
