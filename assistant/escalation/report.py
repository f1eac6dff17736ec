"""The calibration report as files: Markdown tables, the deferral curves as a PNG, and the raw JSON."""

from __future__ import annotations

import json
from pathlib import Path

from .evaluate import plot_deferral

MODES = {"probe_stream": "answer probe, streamed (decision window)",
         "probe_complete": "answer probe, whole answer",
         "stream": "distribution fit, streamed (decision window)",
         "complete": "distribution fit, whole answer"}
"""Report parts, in order: the answer probe (served where the engine gives hidden states) and the distribution
fit (served otherwise); a part the data lacks is left out."""


def _ci(value: list | None) -> str:
    if not value or value[0] is None:
        return "n/a"
    lo, hi = value[1], value[2]
    return f"{value[0]:.3f} [{lo:.3f}, {hi:.3f}]" if lo is not None else f"{value[0]:.3f}"


def markdown(data: dict, plot_name: str | None) -> str:
    """The report of `calibrate.fit` as Markdown."""
    out = [f"# Escalation calibration: {data['model']}", "",
           (f"{data['questions']} graded questions, {data['answers']} answers under the default sampler "
            f"(repeats {', '.join(map(str, data['seeds']))}; each answer's seed derived from its question and "
            "repeat). Fit on `train`, threshold from `validation`, every number below on `test` only (question "
            "templates and entities the fit never saw). The answer probe reads the mean last-layer hidden state "
            "over the window's answer tokens (recorded for the first repeat's answers); the distribution fit, "
            f"{', '.join(data['features'])}. Target escalation rate {data['target_rate']:.0%}. "
            "Intervals: 95% bootstrap over questions."), ""]
    for mode, title in MODES.items():
        if mode not in data:
            continue
        part = data[mode]
        out += [f"## {title}", "",
                f"- accuracy of the local model: {part['accuracy']:.1%} ({part['n']} answers)",
                (f"- AUROC (wrong answer): {_ci(part['auroc'])}; facts only: {_ci(part['facts_pooled'])}; "
                f"mean within fact kinds: {part['within_fact_kinds_mean']}"),
                (f"- escalation rate at threshold {part['threshold']:.4f}: {part['escalation_rate']:.1%} "
                f"(per repeat: {', '.join(f'{v:.1%}' for v in part['escalation_rate_per_seed'].values())})"),
                (f"- share escalated to recover 80% of the gap to an always-right cloud: "
                f"{part['share_for_80pct_gap']:.1%} (a perfect score: {part['oracle_share_for_80pct_gap']:.1%})"),
                "", "| kind | AUROC [95% CI] | local accuracy | answers |", "|---|---|---|---|"]
        for kind, (a, lo, hi, acc, n) in part["per_kind"].items():
            out.append(f"| {kind} | {_ci([a, lo, hi])} | {acc:.1%} | {n} |")
        out += ["", "| share escalated | accuracy |", "|---|---|"]
        out += [f"| {s:.0%} | {acc:.1%} |" for s, acc in part["deferral"][::2]]
        if part.get("signals"):
            out += ["", "| single signal | AUROC [95% CI] |", "|---|---|"]
            out += [f"| {name} | {_ci(v)} |" for name, v in part["signals"].items()]
        out.append("")
    if plot_name:
        out += [f"![deferral curves]({plot_name})", ""]
    return "\n".join(out)


def write_report(data: dict, directory: Path, stem: str = "calibration") -> list[Path]:
    """Write `<stem>.md`, `<stem>.json` and (with matplotlib installed) `<stem>-deferral.png` into
    `directory`; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    plot = directory / f"{stem}-deferral.png"
    try:
        curves = {title: data[mode]["deferral"] for mode, title in MODES.items() if mode in data}
        base = next(iter(data[m] for m in MODES if m in data))
        curves["perfect score"] = [[s, min(1.0, base["accuracy"] + s)] for s, _ in base["deferral"]]
        written.append(plot_deferral(curves, plot, f"Held-out deferral: {data['model']}"))
    except ImportError:
        plot = None
    md = directory / f"{stem}.md"
    md.write_text(markdown(data, plot.name if plot else None), encoding="utf-8")
    raw = directory / f"{stem}.json"
    raw.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return [md, raw, *written]
