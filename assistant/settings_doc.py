"""The settings table in Markdown, generated from the schema (README's table is this output; a test checks it)."""

from __future__ import annotations

import inspect

from pydantic import BaseModel, SecretStr

from .cli.options import UNPREFIXED, _choices
from .settings import Settings


def _default(value: object) -> str:
    if isinstance(value, SecretStr):
        return "(secret)"
    if value is None or value == ():
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
                flag = sub if name in UNPREFIXED else f"{name}_{sub}"
                default = sinfo.get_default(call_default_factory=True)
                out.append((f"HEARTH_{name}_{sub}".upper(), "--" + flag.replace("_", "-"), _default(default),
                            (sinfo.description or "") + _choices(sinfo.annotation)))
        else:
            default = "~/.cache/hearth" if name == "home" else _default(info.get_default(call_default_factory=True))
            out.append((f"HEARTH_{name}".upper(), "--" + name.replace("_", "-"), default,
                        (info.description or "") + _choices(ann)))
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
