"""Text that cannot be encoded as UTF-8 is refused where it enters Hearth, never met later as a crash.

Python strings can hold lone surrogates (U+D800-U+DFFF): JSON's `"\\ud800"` escape decodes to one, and so do
undecodable bytes in `sys.argv` (PEP 383). They cannot be encoded as UTF-8, so tokenising, rendering a template or
writing them out raises `UnicodeEncodeError` deep inside a request. Every surface checks its text with these
functions first and answers with a typed error that names the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import InvalidRequestError

_SURROGATE = re.compile("[\ud800-\udfff]")


def encodable(text: str) -> bool:
    """Whether `text` can be encoded as UTF-8 (it holds no lone surrogate)."""
    return text.isascii() or _SURROGATE.search(text) is None


def unencodable_path(value: Any, skip: tuple[type, ...] = ()) -> str | None:
    """Where in `value` (a string, or lists, tuples and dicts of them, keys included) the first string that cannot
    be encoded sits: `""` for `value` itself, `[2]`, `.name`, `.a[0].b`...; None if every string can be encoded.

    Instances of `skip` are not looked into (they were checked when they were built). Iterative, so a deeply
    nested value cannot exhaust the stack."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if not encodable(item):
                return where
        elif isinstance(item, Mapping):
            for key, sub in reversed(list(item.items())):
                if isinstance(key, str) and not encodable(key):
                    return f"{where}.{escape(key)}"
                stack.append((f"{where}.{key}", sub))
        elif isinstance(item, (list, tuple)):
            stack.extend((f"{where}[{i}]", sub) for i, sub in reversed(list(enumerate(item))))
        elif skip and isinstance(item, skip):
            continue
    return None


def require_encodable(value: Any, param: str) -> None:
    """Raise InvalidRequestError naming `param` (plus the path inside it) if any string in `value` cannot be
    encoded as UTF-8."""
    where = unencodable_path(value)
    if where is not None:
        raise InvalidRequestError(f"{param}{where} contains a lone surrogate (text that is not valid Unicode)",
                                  param=param + where)


def escape(text: str) -> str:
    """`text` with each lone surrogate written as its `\\udXXX` escape, so it can be shown or sent back."""
    return text if encodable(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")
