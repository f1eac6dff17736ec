"""`hearth calibrate [DATASET.jsonl]`: fit the escalation scores under the serving sampler, judge them on the
held-out split, write the calibration and its report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..escalation.calibrate import DATASET, collect, fit, load_dataset
from ..escalation.defaults import calibration_file
from ..escalation.probe import model_sha256
from ..escalation.report import write_report
from ..escalation.scoring import load_calibration
from ..escalation.sweep import sweep_order
from ..runtime import load_engine
from ..settings import Settings
from .common import cli_errors, err, out, print_json
from .options import settings_command


def register(app: typer.Typer) -> None:
    @app.command()
    @cli_errors
    @settings_command("model", "home", "engine", "escalation")
    def calibrate(dataset: Annotated[Path, typer.Argument(
                      help="JSON lines with `question`, accepted `answers` and a `split` (train, validation, "
                      "test); default: the graded set shipped with Hearth.")] = DATASET,
                  seeds: Annotated[list[int] | None, typer.Option(
                      "--seed", help="Repeat indices (repeat the option): each answers every question once, "
                      "sampled with a seed derived from the question and the index; the first also records "
                      "hidden states for the answer probe.")] = None,
                  target_rate: Annotated[float | None, typer.Option(
                      "--target-rate", min=0.0, max=1.0,
                      help="Share of answers to escalate (default: escalation.target_rate).")] = None,
                  max_tokens: Annotated[int, typer.Option(
                      "--max-tokens", min=1, help="Longest local answer; also the whole-answer window.")] = 24,
                  limit: Annotated[int | None, typer.Option(
                      "--limit", min=10, help="Use N questions (the first N of the sweep's fixed shuffled "
                      "order: every kind, and what an interrupted --cache run already answered).")] = None,
                  cache: Annotated[Path | None, typer.Option(
                      "--cache", help="JSON lines of answers to reuse and extend (an interrupted run resumes).")]
                  = None,
                  save: Annotated[Path | None, typer.Option(
                      "--out", help="Write the fitted calibrations into this directory (use it with "
                      "--escalation-calibration-dir).")] = None,
                  report_dir: Annotated[Path | None, typer.Option(
                      "--report", help="Write calibration.md, calibration.json and calibration-deferral.png "
                      "here.")] = None,
                  hidden: Annotated[bool, typer.Option(
                      "--hidden/--no-hidden", help="Record hidden states of the first repeat's answers and fit "
                      "the answer probe (an extra pass per question; needs an engine that gives them).")] = True,
                  as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
                  *, settings: Settings) -> None:
        """Answer graded questions with the local model under the default sampler (a seed per question and
        repeat), fit the combined confidence score and the answer hidden-state probe on the train split, set
        their thresholds for the target escalation rate on the validation split, and report on the test split:
        AUROC overall and per kind with 95% intervals, the deferral curve and the share of requests that recovers
        80% of the gap to an always-right cloud."""
        questions = sweep_order(load_dataset(dataset))[:limit]
        engine = load_engine(settings)
        try:
            samples = collect(engine, questions, seeds or [0, 1, 2], max_tokens, cache,
                              None if as_json else _progress, hidden)
        finally:
            engine.close()
        if not as_json:
            err.print()
        rate = settings.escalation.target_rate if target_rate is None else target_rate
        data, fits = fit(samples, questions, _windows(settings, max_tokens), rate, _model_ref(engine))
        if save is not None:
            data["saved"] = _save(fits, save)
        if report_dir is not None:
            data["report"] = [str(p) for p in write_report(data, report_dir)]
        if as_json:
            print_json(data)
            return
        _print(data)


def _windows(settings: Settings, max_tokens: int) -> dict[str, int]:
    # Unset, the stream window stays the one the shipped calibration was fit for.
    return {"stream": settings.escalation.decision_window or load_calibration("stream").window,
            "complete": max_tokens}


def _model_ref(engine) -> dict[str, str]:
    """What a probe is fit for: the model's id, quantization and file hash (another file falls back)."""
    return {"id": engine.info.id, "quantization": engine.info.quantization, "sha256": model_sha256(engine.info.path)}


def _save(fits: dict, directory: Path) -> str:
    """Write each mode's calibration file into `directory` (made if missing); returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    for mode, cal in fits.items():
        calibration_file(mode, directory).write_text(cal.to_json(), encoding="utf-8")
    return str(directory)


def _progress(done: int, total: int) -> None:
    err.print(f"\r{done}/{total} answered", end="")


def _ci(v: list) -> str:
    return "n/a" if v[0] is None else f"{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]" if v[1] is not None else f"{v[0]:.3f}"


def _print(data: dict) -> None:
    table = Table("held-out (test split)", "stream", "complete")
    s, c = data["stream"], data["complete"]
    table.add_row("AUROC [95% CI]", _ci(s["auroc"]), _ci(c["auroc"]))
    table.add_row("AUROC, facts", _ci(s["facts_pooled"]), _ci(c["facts_pooled"]))
    for kind in s["per_kind"]:
        table.add_row(f"  {kind}", _ci(s["per_kind"][kind][:3]), _ci(c["per_kind"][kind][:3]))
    table.add_row("escalated at the threshold", f"{s['escalation_rate']:.1%}", f"{c['escalation_rate']:.1%}")
    table.add_row("escalated to recover 80% of the gap", f"{s['share_for_80pct_gap']:.1%}",
                  f"{c['share_for_80pct_gap']:.1%}")
    out.print(table)
    probes = [data.get("probe_stream"), data.get("probe_complete")]
    if any(probes):
        table = Table("answer probe, held-out", "stream", "complete")
        table.add_row("AUROC [95% CI]", *(_ci(p["auroc"]) if p else "n/a" for p in probes))
        table.add_row("AUROC, facts", *(_ci(p["facts_pooled"]) if p else "n/a" for p in probes))
        table.add_row("escalated at the threshold", *(f"{p['escalation_rate']:.1%}" if p else "n/a" for p in probes))
        table.add_row("escalated to recover 80% of the gap",
                      *(f"{p['share_for_80pct_gap']:.1%}" if p else "n/a" for p in probes))
        out.print(table)
    curve = Table("share escalated", "accuracy, stream", "accuracy, complete")
    for (share, a), (_, b) in zip(s["deferral"][::2], c["deferral"][::2]):
        curve.add_row(f"{share:.0%}", f"{a:.1%}", f"{b:.1%}")
    out.print(curve)
    out.print(f"local accuracy {s['accuracy']:.1%} on {s['n']} held-out answers; target escalation rate "
              f"{data['target_rate']:.0%}")
    if "saved" in data:
        out.print(f"calibration written to {data['saved']}")
    for path in data.get("report", []):
        out.print(f"report written to {path}")
