"""The grammar of an answer to a request with tools: a call is `{"name": <tool>, "arguments": <object valid
against that tool's parameter schema>}`; parallel calls are such objects one per line.

`required` and named choices constrain the whole answer to calls. `auto` uses one grammar whose root is
`calls | text`, where text is anything that does not begin with `{`: an answer that begins with `{` is a call and is
constrained from its first character, so every call Hearth emits parses and validates.

Why not llama.cpp's lazy grammar (`llama_sampler_init_grammar_lazy_patterns`, which the bindings expose): it turns
on when a trigger pattern matches already *sampled* text and then replays that text into the grammar; text the
grammar rejects at that point (a token that carries `{"name": "no_such_tool` past the trigger) makes llama.cpp
throw a C++ exception through its C API, which aborts the process. A root alternative masks every candidate before
it is sampled, so nothing the grammar rejects is ever accepted. What it costs: a call must start the answer (text
before a call is not possible in `auto`), and the grammar checks candidates on every token of a text answer too.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any

from ..engine.llamacpp_sampler import check_grammar
from ..errors import InvalidRequestError
from ..json_grammar import convert, unenforceable

if TYPE_CHECKING:
    from .spec import Tool, ToolSpec

_DEF_KEYS = ("$defs", "definitions")
_ROOT_RULE = re.compile(r"^root ::=", re.MULTILINE)


def _parameters(tool: Tool, i: int) -> dict[str, Any]:
    where = f"tools[{i}].function.parameters"
    params = tool.parameters or {"type": "object", "properties": {}}
    if not isinstance(params, dict) or params.get("type", "object") != "object":
        raise InvalidRequestError(f"{where} must be an object schema (\"type\": \"object\")", param=where)
    if (keyword := unenforceable(params, "parameters")) is not None:
        raise InvalidRequestError(f"{where}: '{keyword}' cannot be enforced by the output grammar; remove it",
                                  param=where)
    return params


def _hoist(params: dict[str, Any], prefix: str, defs: dict[str, Any], where: str) -> dict[str, Any]:
    """`params` with its own `$defs` moved into the combined schema's `defs` under `prefix`, and its `$ref`s
    rewritten to match (a tool's `#/$defs/X` means its own X, not another tool's)."""
    params = copy.deepcopy(params)
    for key in _DEF_KEYS:
        for name, sub in (params.pop(key, None) or {}).items():
            defs[f"{prefix}{name}"] = sub

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                head, _, name = ref.rpartition("/")
                if head not in ("#/$defs", "#/definitions"):
                    raise InvalidRequestError(f"{where}: only local '#/$defs/...' references are supported "
                                              f"('{ref[:80]}')", param=where)
                node["$ref"] = f"#/$defs/{prefix}{name}"
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(params)
    for name in [n for n in defs if n.startswith(prefix)]:
        walk(defs[name])
    return params


def call_schema(spec: ToolSpec) -> dict[str, Any]:
    """The JSON Schema of one call of any offered tool (refs hoisted into one `$defs`)."""
    defs: dict[str, Any] = {}
    alternatives = []
    for i, tool in enumerate(spec.tools):
        if tool not in spec.offered:
            continue
        where = f"tools[{i}].function.parameters"
        params = _hoist(_parameters(tool, i), f"t{i}-", defs, where)
        alternatives.append({"type": "object", "properties": {"name": {"const": tool.name}, "arguments": params},
                             "required": ["name", "arguments"], "additionalProperties": False})
    schema: dict[str, Any] = alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}
    if defs:
        schema = {**schema, "$defs": defs}
    return schema


def tools_grammar(spec: ToolSpec) -> str | None:
    """The GBNF grammar of an answer under `spec` (None for `none`). Raises InvalidRequestError naming the tool's
    parameters when its schema cannot be enforced."""
    if not spec.offered:
        return None
    gbnf = convert(call_schema(spec), "tools")
    if len(_ROOT_RULE.findall(gbnf)) != 1 or re.search(r"(?<![\w-])root(?![\w-])", _ROOT_RULE.sub("", gbnf)):
        raise InvalidRequestError("tools: a parameter schema refers to its own root ('#'); use '$defs'",
                                  param="tools")
    gbnf = _ROOT_RULE.sub("hearth-call ::=", gbnf)
    calls = 'hearth-call ( "\\n" hearth-call )*' if spec.parallel else "hearth-call"
    if spec.must_call:
        root = f"root ::= {calls}\n"
    else:
        root = f"root ::= {calls} | hearth-text\nhearth-text ::= [^{{] [^\\x00]*\n"
    grammar = root + gbnf
    check_grammar(grammar, "tools")
    return grammar
