"""CLI options generated from the settings schema, so flags, env vars and the TOML file never drift apart.

`@settings_command("engine", "sampling", "model")` adds one option per field of those groups (or top-level fields)
to a Typer command, plus `--config FILE`; the command receives the resolved `Settings` as `settings`.
Fields of the groups in `settings_doc.UNPREFIXED` get plain flags (`--n-ctx`, `--temperature`, `--port`); other groups are
prefixed (`--cloud-base-url`).
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from ..settings import Settings, load_settings
from ..settings_doc import choices, cli_flag


def _cli_type(annotation: Any) -> tuple[Any, bool]:
    """(python type typer understands, is_repeatable) for a settings field annotation."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType):
        if len(args) == 1:
            return _cli_type(args[0])
        return str, False  # e.g. int | Literal["auto"]: pydantic validates the string
    if origin is tuple or origin is list:
        return str, True
    if origin is Literal:
        return str, False
    if annotation in (bool, int, float, str, Path):
        return annotation, False
    if annotation is SecretStr:
        return str, False
    return str, False


def _fields(groups: tuple[str, ...]) -> list[tuple[str | None, str, FieldInfo]]:
    out = []
    for group in groups:
        info = Settings.model_fields[group]
        annotation = info.annotation
        if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
            out += [(group, name, f) for name, f in annotation.model_fields.items()]
        else:
            out.append((None, group, info))
    return out


def _param(group: str | None, name: str, info: FieldInfo) -> inspect.Parameter:
    py_type, repeat = _cli_type(info.annotation)
    help_text = (info.description or "") + choices(info.annotation)
    flag = cli_flag(group, name)
    decls = [f"{flag}/--no-{flag[2:]}"] if py_type is bool else [flag]
    hint = Optional[list[str]] if repeat else Optional[py_type]
    option = typer.Option(*decls, help=help_text, show_default=False, rich_help_panel="Settings")
    pname = f"opt__{group or ''}__{name}"
    return inspect.Parameter(pname, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[hint, option])


def settings_command(*groups: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a command taking `settings: Settings` with generated options for `groups`."""
    fields = _fields(groups)

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        # Modules use `from __future__ import annotations`; resolve the strings so Typer sees the Option metadata.
        # Not with typing.get_type_hints: before Python 3.11 it wraps the hint of a parameter defaulting to None
        # in Optional[...], which hides Annotated's typer.Option (on 3.10 `chat -p` did not exist).
        sig = inspect.signature(fn, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name != "settings"]
        config = inspect.Parameter("opt__config", inspect.Parameter.KEYWORD_ONLY, default=None,
                                   annotation=Annotated[Path | None, typer.Option(
                                       "--config", help="Settings TOML file (default: $HEARTH_HOME/config.toml).",
                                       rich_help_panel="Settings")])
        generated = [_param(g, n, f) for g, n, f in fields]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            config_file = kwargs.pop("opt__config", None)
            overrides: dict[str, Any] = {}
            for key in [k for k in kwargs if k.startswith("opt__")]:
                value = kwargs.pop(key)
                if value is None:
                    continue
                _, group, name = key.split("__", 2)
                if group:
                    overrides.setdefault(group, {})[name] = value
                else:
                    overrides[name] = value
            return fn(*args, settings=load_settings(config_file, **overrides), **kwargs)

        wrapper.__signature__ = sig.replace(parameters=_ordered(own + generated + [config]))  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _ordered(params: list[inspect.Parameter]) -> list[inspect.Parameter]:
    # Python requires positional parameters before keyword-only ones, and defaults after non-defaults.
    return sorted(params, key=lambda p: (p.kind, p.default is not inspect.Parameter.empty))
