"""How each setting is spelled outside the schema (its CLI flag, its choices) and the settings table in Markdown
generated from the schema (README's table is this output; a test checks it). The CLI's options use the same
spelling (`assistant.cli.options`), so the table and the flags cannot drift apart."""

from __future__ import annotations

import inspect
import typing
from typing import Any, Literal

from pydantic import BaseModel, SecretStr

from .settings import Settings

UNPREFIXED = frozenset({"engine", "sampling", "server"})
"""Groups whose fields get plain flags (`--n-ctx`, `--temperature`, `--port`); other groups' flags carry the group
name (`--cloud-base-url`)."""


def cli_flag(group: str | None, name: str) -> str:
    """`--flag` of field `name` in settings group `group` (None: a top-level field)."""
    stem = name if group is None or group in UNPREFIXED else f"{group}_{name}"
    return "--" + stem.replace("_", "-")


def choices(annotation: Any) -> str:
    """` [a|b|c]` for a field whose type is (or includes) a Literal; empty otherwise."""
    lits = [a for a in typing.get_args(annotation) if typing.get_origin(a) is Literal] or (
        [annotation] if typing.get_origin(annotation) is Literal else [])
    values = [str(v) for lit in lits for v in typing.get_args(lit)]
    return f" [{'|'.join(values)}]" if values else ""


def _default(value: object) -> str:
    if isinstance(value, SecretStr):
        return "(secret)"
    if value is None or value == () or value == {}:
        return "—"
    if isinstance(value, tuple):
        return ", ".join(map(str, value))
    return str(value)


def rows() -> list[tuple[str, str, str, str]]:
    """(env var, CLI flag, default, description) for every setting."""
    out = []
    for name, info in Settings.model_fields.items():
        ann = info.annotation
        if inspect.isclass(ann) and issubclass(ann, BaseModel):
            for sub, sinfo in ann.model_fields.items():
                default = sinfo.get_default(call_default_factory=True)
                out.append((f"HEARTH_{name}_{sub}".upper(), cli_flag(name, sub), _default(default),
                            (sinfo.description or "") + choices(sinfo.annotation)))
        else:
            default = "~/.cache/hearth" if name == "home" else _default(info.get_default(call_default_factory=True))
            out.append((f"HEARTH_{name}".upper(), cli_flag(None, name), default,
                        (info.description or "") + choices(ann)))
    return out


def markdown() -> str:
    lines = ["| environment variable | CLI flag | default | meaning |", "|---|---|---|---|"]
    for env, flag, default, desc in rows():
        cell = desc.replace("|", "\\|")
        lines.append(f"| `{env}` | `{flag}` | `{default}` | {cell} |")
    return "\n".join(lines)


def write_readme(path: str) -> None:
    """Replace the table between the README's settings-table markers."""
    from pathlib import Path

    readme = Path(path)
    text = readme.read_text(encoding="utf-8")
    head, rest = text.split("<!-- settings-table:start -->")
    _, tail = rest.split("<!-- settings-table:end -->")
    readme.write_text(f"{head}<!-- settings-table:start -->\n{markdown()}\n<!-- settings-table:end -->{tail}",
                      encoding="utf-8")


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        write_readme(sys.argv[2])
    else:
        print(markdown())
