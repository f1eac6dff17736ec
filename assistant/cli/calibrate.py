"""`hearth calibrate DATASET.jsonl`: fit the escalation scores on graded questions, suggest thresholds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..assistant import ChatRequest
from ..engine.events import ChatMessage
from ..escalation.calibrate import calibration_params, grade, load_dataset, report
from ..escalation.defaults import calibration_file
from ..runtime import build_assistant
from ..settings import Settings
from .common import cli_errors, err, out, print_json
from .options import settings_command


def register(app: typer.Typer) -> None:
    @app.command()
    @cli_errors
    @settings_command("model", "home", "engine", "escalation")
    def calibrate(dataset: Annotated[Path, typer.Argument(
                      help="JSON lines with `question` and accepted `answers`.")],
                  target_rate: Annotated[float, typer.Option(
                      "--target-rate", min=0.0, max=1.0,
                      help="Share of answers the threshold should escalate.")] = 0.5,
                  max_tokens: Annotated[int | None, typer.Option(
                      "--max-tokens", min=1,
                      help="Longest local answer (default: the complete window).")] = None,
                  limit: Annotated[int | None, typer.Option(
                      "--limit", min=10, help="Use the first N questions.")] = None,
                  save: Annotated[Path | None, typer.Option(
                      "--out", help="Write the fitted calibrations into this directory (use it with "
                      "--escalation-calibration-dir).")] = None,
                  as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
                  *, settings: Settings) -> None:
        """Run the local model over graded questions (greedy, seeded), report each confidence signal's AUROC
        for a wrong answer, the cross-validated AUROC of the combined score, and the threshold for a target
        escalation rate."""
        questions = load_dataset(dataset)[:limit]
        # Calibration answers are not user requests: they stay out of the audit log.
        no_audit = settings.escalation.model_copy(update={"audit": False})
        quiet = settings.model_copy(update={"escalation": no_audit})
        assistant = build_assistant(quiet)
        params = calibration_params(max_tokens or settings.escalation.complete_window)
        esc = settings.escalation
        windows = {"stream": esc.decision_window, "complete": esc.complete_window}

        def answer(messages: list[ChatMessage]):
            reply = assistant.complete(ChatRequest(messages=messages, params=params, route="local"))
            return reply.text, reply.tokens

        def progress(done: int, total: int) -> None:
            if not as_json:
                err.print(f"\r{done}/{total} answered", end="")

        graded = grade(questions, answer, progress)
        if not as_json:
            err.print()
        data, fits = report(graded, windows, target_rate, assistant.model_info.id)
        if save is not None:
            save.mkdir(parents=True, exist_ok=True)
            for mode, cal in fits.items():
                calibration_file(mode, save).write_text(cal.to_json(), encoding="utf-8")
            data["saved"] = str(save)
        if as_json:
            print_json(data)
            return
        _print(data)


def _print(data: dict) -> None:
    stream, complete = data, data["complete"]
    table = Table("signal", f"AUROC, stream (first {stream['window']})",
                  f"AUROC, complete (first {complete['window']})")
    for name in stream["auroc"]:
        table.add_row(name, f"{stream['auroc'][name]:.3f}", f"{complete['auroc'][name]:.3f}")
    table.add_row("[bold]combined (5-fold CV)[/]", f"[bold]{stream['combined_auroc']:.3f}[/]",
                  f"[bold]{complete['combined_auroc']:.3f}[/]")
    out.print(table)
    out.print(f"accuracy {data['accuracy']:.1%} on {data['n']} questions; target escalation rate "
              f"{data['target_rate']:.0%}")
    for name, part in (("stream", stream), ("complete", complete)):
        out.print(f"{name}: threshold {part['threshold']:.4f} escalates {part['escalation_rate']:.1%}, "
                  "catching "
                  f"{part['wrong_caught']:.0%} of wrong answers")
    if "saved" in data:
        out.print(f"calibration written to {data['saved']}")
