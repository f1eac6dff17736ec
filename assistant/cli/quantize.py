"""`hearth quantize`: a Hugging Face model in; a validated INT4 GGUF and manifest in the store out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text
from typing_extensions import Self

from ..errors import ModelFormatError
from ..runtime import open_store
from ..settings import Settings
from .common import cli_errors, err, human_bytes, out, print_json
from .options import settings_command

_BYTE_PHASES = {"checksum", "convert", "sha256"}
_LABELS = {
    "checksum": "hash inputs",
    "convert": "convert",
    "imatrix": "imatrix",
    "quantize": "quantize",
    "eval f16": "eval F16",
    "eval quant": "eval quant",
    "sha256": "sha256",
}


class _Amount(ProgressColumn):
    """Bytes for I/O phases, `done/total` for chunk and tensor counts."""

    def __init__(self) -> None:
        super().__init__()
        self._bytes, self._count = DownloadColumn(), MofNCompleteColumn()

    def render(self, task: Task) -> Text:
        return (self._bytes if task.fields.get("is_bytes") else self._count).render(task)


class _Bars:
    """One rich progress bar per pipeline phase; the pipeline calls it as progress(phase, done, total)."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description:>12}"),
            BarColumn(),
            _Amount(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(
                _LABELS.get(phase, phase), total=total, is_bytes=phase in _BYTE_PHASES
            )
        self.progress.update(self.tasks[phase], completed=done, total=total)

    def __enter__(self) -> Self:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)


def _summary(result, as_json: bool) -> None:
    m = result.manifest
    if as_json:
        print_json(
            {
                "gguf": str(result.gguf),
                "manifest": str(result.manifest_path),
                "store_name": result.store_name,
                **m,
            }
        )
        return
    table = Table("field", "value", show_header=False)
    table.add_row("file", str(result.gguf))
    table.add_row("type", f"{m['type']} ({m['bits_per_weight']:.2f} bits/weight)")
    table.add_row("size", f"{human_bytes(m['bytes'])} ({m['bytes']:,} bytes)")
    table.add_row("sha256", m["sha256"])
    if m.get("eval"):
        e = m["eval"]
        table.add_row("perplexity", f"{e['ppl']:.4f} (F16 {e['ppl_f16']:.4f}, {e['dppl']:+.4f})")
        table.add_row(
            "KL divergence", f"{e['kld_mean']:.5f} mean, {e['kld_p99']:.4f} p99 over {e['tokens']} tokens"
        )
        table.add_row("same top token", f"{100 * e['same_top']:.1f}%")
    table.add_row("imatrix", "yes" if m.get("imatrix") else "no")
    fits = [r["device"] for r in m["device_fit"] if r["contexts"]["4096"]["fits"]]
    table.add_row("fits at 4k ctx", ", ".join(fits) or "none of the listed devices")
    table.add_row("manifest", str(result.manifest_path))
    if result.store_name:
        table.add_row("store name", f"{result.store_name}  (use: hearth chat --model {result.store_name})")
    out.print(table)


def register(app: typer.Typer) -> None:
    @app.command()
    @cli_errors
    @settings_command("home", "quantize")
    def quantize(
        source: Annotated[
            str, typer.Argument(help="Hugging Face model directory or hub repo id (owner/name).")
        ],
        preset: Annotated[
            str | None,
            typer.Option(
                "--preset",
                help="Q4_K_M, Q4_K_S, Q4_0, IQ4_XS, Q5_K_M or Q8_0 (default: the "
                "quantize.default_preset setting).",
            ),
        ] = None,
        out_dir: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("."),
        calibration: Annotated[
            Path | None,
            typer.Option(
                "--calibration",
                help="UTF-8 text for the importance matrix (its last third is held out for "
                "evaluation); default: Python's pydoc topics.",
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
        *,
        settings: Settings,
    ) -> None:
        """Convert a Hugging Face model to GGUF, quantize it (INT4 presets), evaluate it against F16, write a
        manifest and register the build in the model store."""
        try:
            from quantize.pipeline import build
        except ImportError as exc:
            raise ModelFormatError(
                f"quantizing needs the quantize extra ({exc.name} is missing): pip install 'hearth[quantize]'"
            ) from None
        with _Bars() as bars:
            result = build(
                source,
                preset,
                out_dir,
                settings,
                calibration=calibration,
                store=open_store(settings),
                progress=bars,
            )
        _summary(result, as_json)
