"""`hearth pull`, `hearth models`, `hearth info`, `hearth rm`: the model store on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from ..errors import ModelNotFoundError
from ..gguf_meta import read_gguf
from ..runtime import open_store
from ..settings import Settings
from .common import cli_errors, err, human_bytes, out, print_json
from .options import settings_command


class _Bar:
    """Adapts the store's progress callback to a rich progress bar (one task per phase)."""

    def __init__(self, progress: Progress) -> None:
        self.progress, self.tasks = progress, {}

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(phase, total=total)
        self.progress.update(self.tasks[phase], completed=done, total=total)


def pull_with_progress(settings: Settings, model_id: str, force: bool = False):
    store = open_store(settings)
    columns = (TextColumn("{task.description:>8}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        stored = store.pull(model_id, progress=_Bar(progress), force=force)
    return stored


@cli_errors
@settings_command("home")
def pull(model_id: Annotated[str, typer.Argument(help="Catalog id, e.g. smollm2-135m-instruct.")],
         force: Annotated[bool, typer.Option("--force", help="Download again even if installed.")] = False,
         *, settings: Settings) -> None:
    """Download a catalog model into the store, verify its SHA-256 and install it atomically."""
    stored = pull_with_progress(settings, model_id, force)
    err.print(f"installed {stored.name} ({human_bytes(stored.size_bytes)}, sha256 {stored.sha256[:12]}…)")
    out.print(str(stored.path))

@cli_errors
@settings_command("home")
def models_cmd(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
               *, settings: Settings) -> None:
    """List catalog models and what is installed in the store."""
    store = open_store(settings)
    installed = {m.name: m for m in store.installed()}
    rows = []
    for entry in store.catalog.entries.values():
        got = installed.pop(entry.id, None)
        rows.append({"id": entry.id, "family": entry.family, "params": entry.n_params,
                     "quantization": entry.quantization, "size_bytes": got.size_bytes if got else entry.size_bytes,
                     "installed": got is not None, "path": str(got.path) if got else None,
                     "license": entry.license, "context_length": entry.context_length,
                     "default": entry.id == store.catalog.default, "source": entry.source.kind})
    for sp in store.catalog.speech.values():
        got = installed.pop(sp.id, None)
        rows.append({"id": sp.id, "family": sp.kind, "params": None, "quantization": None,
                     "size_bytes": sp.size_bytes, "installed": got is not None, "path": str(got.path) if got else None,
                     "license": sp.license, "context_length": None, "default": False, "source": "pypi"})
    for m in installed.values():
        rows.append({"id": m.name, "family": None, "params": None, "quantization": None,
                     "size_bytes": m.size_bytes, "installed": True, "path": str(m.path), "license": None,
                     "context_length": None, "default": False, "source": m.source})
    if as_json:
        print_json(rows)
        return
    table = Table("id", "params", "quant", "size", "installed", "source", "license")
    for r in rows:
        params = f"{r['params'] / 1e9:.2f}B" if r["params"] else "-"
        table.add_row(r["id"] + (" (default)" if r["default"] else ""), params, r["quantization"] or "-",
                      human_bytes(r["size_bytes"]), "yes" if r["installed"] else "no", r["source"],
                      r["license"] or "-")
    out.print(table)

@cli_errors
@settings_command("home")
def info(model: Annotated[str, typer.Argument(help="Catalog id, store name or path to a .gguf file.")],
         as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
         *, settings: Settings) -> None:
    """Print a model file's GGUF metadata."""
    _, path = open_store(settings).resolve(model)
    summary = read_gguf(Path(path)).summary()
    if as_json:
        print_json(summary)
        return
    table = Table("field", "value", show_header=False)
    for key, value in summary.items():
        if key == "parameters":
            value = f"{value:,} ({value / 1e9:.3f}B)"
        elif key == "size_bytes":
            value = f"{value:,} ({human_bytes(value)})"
        table.add_row(key, str(value))
    out.print(table)


@cli_errors
@settings_command("home")
def rm(name: Annotated[str, typer.Argument(help="Store name, as `hearth models` lists it.")],
       *, settings: Settings) -> None:
    """Remove an installed model from the store (its file and record); the catalog still lists it."""
    store = open_store(settings)
    stored = store.get(name)
    if stored is None or not store.remove(name):
        raise ModelNotFoundError(f"no model '{name}' is installed (`hearth models` lists what is)", param="model")
    err.print(f"removed {name} ({human_bytes(stored.size_bytes)} freed)")


def register(app: typer.Typer) -> None:
    app.command("pull")(pull)
    app.command("models")(models_cmd)
    app.command("info")(info)
    app.command("rm")(rm)
