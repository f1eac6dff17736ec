"""The grammar of an answer to a request with tools: a call is `{"name": <tool>, "arguments": <object valid
against that tool's parameter schema>}` (Llama 3 says `parameters`), inside the format's own text around it
(`formats.CallFormat`: Qwen's `<tool_call>` tags); parallel calls are such calls one per line (Mistral: one JSON
array after `[TOOL_CALLS]`, which the grammar matches as the control token's text: llama.cpp's grammar judges a
token by its text with special tokens rendered).

`required` and named choices constrain the whole answer to calls. `auto` uses one grammar whose root is
`calls | text`, where text is anything that does not begin as a call does (`{`, or the whole tag `<tool_call>`;
text may begin `<think>`): an answer that begins that way is a call and is constrained from its first character,
so every call Hearth emits parses and validates.

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
from .formats import GENERIC, CallFormat

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


def call_schema(spec: ToolSpec, arguments_key: str = "arguments") -> dict[str, Any]:
    """The JSON Schema of one call of any offered tool (refs hoisted into one `$defs`); the arguments object is
    under `arguments_key`."""
    defs: dict[str, Any] = {}
    alternatives = []
    for i, tool in enumerate(spec.tools):
        if tool not in spec.offered:
            continue
        where = f"tools[{i}].function.parameters"
        params = _hoist(_parameters(tool, i), f"t{i}-", defs, where)
        alternatives.append({"type": "object", "properties": {"name": {"const": tool.name}, arguments_key: params},
                             "required": ["name", arguments_key], "additionalProperties": False})
    schema: dict[str, Any] = alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}
    if defs:
        schema = {**schema, "$defs": defs}
    return schema


def tools_grammar(spec: ToolSpec, fmt: CallFormat = GENERIC) -> str | None:
    """The GBNF grammar of an answer under `spec` in `fmt` (None for `none`). Raises InvalidRequestError naming
    the tool's parameters when its schema cannot be enforced."""
    if not spec.offered:
        return None
    gbnf = convert(call_schema(spec, fmt.arguments_key), "tools")
    if len(_ROOT_RULE.findall(gbnf)) != 1 or re.search(r"(?<![\w-])root(?![\w-])", _ROOT_RULE.sub("", gbnf)):
        raise InvalidRequestError("tools: a parameter schema refers to its own root ('#'); use '$defs'",
                                  param="tools")
    gbnf = _ROOT_RULE.sub("hearth-object ::=", gbnf)
    call = "hearth-call ::= " + " ".join([*([_literal(fmt.call_open)] if fmt.call_open else []), "hearth-object",
                                          *([_literal(fmt.call_close)] if fmt.call_close else [])]) + "\n"
    calls = f'hearth-call ( {_literal(fmt.separator)} hearth-call )*' if spec.parallel and fmt.parallel \
        else "hearth-call"
    if fmt.array:  # Mistral v0.3 writes `[TOOL_CALLS] [`, Nemo `[TOOL_CALLS][`: either is taken
        calls = f'" "? "[" {calls} "]"'
    if fmt.calls_open:
        calls = f"{_literal(fmt.calls_open)} {calls}"
    if spec.must_call:
        root = f"root ::= {calls}\n"
    else:
        root = f"root ::= {calls} | hearth-text\nhearth-text ::= {_not_starting(fmt.opening)}\n"
    grammar = root + call + gbnf
    check_grammar(grammar, "tools")
    return grammar


def _literal(text: str) -> str:
    """`text` as a GBNF string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _char_class(char: str) -> str:
    return "\\" + char if char in "]^\\-[" else char


def _not_starting(opening: str) -> str:
    """GBNF of a non-empty text that does not begin with `opening`: it differs from it at some character, or it
    is a proper part of it (`<`, `<tool`)."""
    alternatives = [f"[^{_char_class(opening[0])}] [^\\x00]*"]
    alternatives += [f"{_literal(opening[:k])} ( [^{_char_class(opening[k])}] [^\\x00]* )?"
                     for k in range(1, len(opening))]
    return " | ".join(alternatives)
