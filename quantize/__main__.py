"""`python -m quantize SOURCE --preset TYPE [--out DIR] [--calibration FILE]`: the same command as
`hearth quantize`, without the rest of the CLI."""

from __future__ import annotations

import typer

from assistant.cli import quantize as quantize_cli


def main() -> None:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    quantize_cli.register(app)
    app(prog_name="python -m quantize")


if __name__ == "__main__":
    main()
