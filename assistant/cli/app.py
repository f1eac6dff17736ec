"""The `hearth` command: one Typer app, one module per command group."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(name="hearth", help="Hearth: an on-device LLM assistant with safe cloud escalation.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

# Each module registers its commands on `app` through `register(app)`.
COMMAND_MODULES = [
    "assistant.cli.models",
    "assistant.cli.chat",
    "assistant.cli.serve",
    "assistant.cli.quantize",
    "assistant.cli.voice",
    "assistant.cli.calibrate",
    "assistant.cli.plan",
    "assistant.cli.doctor",
    "assistant.cli.bench",

]


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


_register_all()


def main() -> None:
    app()
