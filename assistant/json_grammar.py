"""JSON Schema -> GBNF grammar, refusing what the grammar could not enforce (used by `response_format`, Ollama's
`format` and tool-call arguments).

Converting can take seconds for a large schema (pure Python): callers on an event loop run it off the loop.
"""

from __future__ import annotations

import json
from typing import Any

from .engine.llamacpp_sampler import check_grammar
from .errors import InvalidRequestError

_ANY_OBJECT_SCHEMA = {"type": "object"}

# JSON Schema keywords llama-cpp-python's grammar converter ignores: a schema using them could yield output that
# parses but does not validate, so such schemas are refused instead of being half enforced.
_UNENFORCEABLE = frozenset({
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minProperties", "maxProperties",
    "uniqueItems", "not", "if", "then", "else", "dependentRequired", "dependentSchemas", "patternProperties",
    "contains", "minContains", "maxContains", "propertyNames", "unevaluatedProperties", "unevaluatedItems"})
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions")
MAX_SCHEMA_DEPTH = 32
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


def _subschemas(schema: dict[str, Any], where: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key in _SUBSCHEMA_MAPS:
        if isinstance(schema.get(key), dict):
            out += [(f"{where}.{key}.{name}", sub) for name, sub in schema[key].items()]
    for key in _SUBSCHEMA_LISTS:
        if isinstance(schema.get(key), list):
            out += [(f"{where}.{key}[{i}]", sub) for i, sub in enumerate(schema[key])]
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            out.append((f"{where}.{key}", schema[key]))
    return out


def unenforceable(schema: Any, where: str = "schema") -> str | None:
    """The location of the first keyword the grammar cannot enforce, or None. Also refuses schemas nested deeper
    than MAX_SCHEMA_DEPTH (the converter recurses once per level). Iterative: depth is checked, not met."""
    stack: list[tuple[str, Any, int]] = [(where, schema, 0)]
    while stack:
        path, node, depth = stack.pop()
        if not isinstance(node, dict):
            continue
        if depth > MAX_SCHEMA_DEPTH:
            return f"{path} (nested deeper than {MAX_SCHEMA_DEPTH} levels)"
        for key in node:
            if key in _UNENFORCEABLE:
                return f"{path}.{key}"
        stack.extend((p, sub, depth + 1) for p, sub in reversed(_subschemas(node, path)))
    return None


def convert(schema: dict[str, Any], param: str) -> str:
    """llama-cpp-python's conversion of a (checked) schema, its failures as InvalidRequestError naming `param`."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return json_schema_to_gbnf(json.dumps(schema))
    # The converter raises bare ValueError/KeyError/RecursionError/... on schemas it cannot express.
    except Exception as exc:  # noqa: BLE001
        raise InvalidRequestError(f"{param} cannot be enforced: {str(exc)[:200]}", param=param) from None


def schema_grammar(schema: dict[str, Any] | None, param: str) -> str:
    """A GBNF grammar for output that validates against `schema` (any JSON object when None or empty).

    Raises InvalidRequestError naming `param` when the schema uses a keyword the grammar cannot enforce, the
    converter cannot express it, or the grammar would nest too deep for llama.cpp's parser."""
    schema = schema or _ANY_OBJECT_SCHEMA
    if (keyword := unenforceable(schema, "schema")) is not None:
        raise InvalidRequestError(f"{param}: '{keyword}' cannot be enforced by the output grammar; remove it",
                                  param=param)
    grammar = convert(schema, param)
    check_grammar(grammar, param)  # e.g. `maxLength: 20000` becomes 20,000 nested optional groups
    return grammar
