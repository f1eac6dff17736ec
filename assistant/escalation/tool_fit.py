"""The calibration of tool calls (`calibration_tools.json`): how likely a local call is not the right one, from
the per-token signals of the call's tokens (its name and its arguments, generated under the tool grammar).

A question-answer calibration does not transfer: under the grammar most tokens of a call are structure the
model is sure of, so every call looked unlike a confident answer and all of them escalated (bench_tools
`--cloud`, 100% escalated). This fit uses the same held-out protocol as `hearth calibrate` (`heldout`): answers
on the graded requests of `data/tool_calls.json` (scripts/make_tool_set.py), fit on the `train` templates,
threshold and score quantiles from `validation`, judged on `test` only. A call is right when it is exactly the
expected one call (name and arguments; numbers compared as numbers).

The answers are collected under three samplers (`SAMPLERS`: the default, greedy, temperature 1.0), because a
client picks its temperature and the sampled tokens' own log-probabilities, which carry most of what separates
a wrong call, rise as the temperature falls: fit under the default sampler alone, the threshold escalated 31.6%
of default-sampler calls but 2.4% of greedy ones. Fit on all three (default model, 1,368 calls, 2026-12-07): held
out AUROC 0.742 [0.652, 0.821], escalating 26.3% (default) / 32.9% (greedy) / 22.4% (T=1.0) at target 0.3. The
distribution signals alone, which do not read the sampled token, are temperature-robust but near chance on
calls (0.546 [0.414, 0.679]), so the shipped fit uses all signals.

    python3 -m assistant.escalation.tool_fit [--out DIR] [--repeats 1] [--samplers default,greedy,hot]
                                             [--features all|distribution] [--threads 2]

With `--out DIR` it writes DIR/calibration_tools.json. The shipped one (the default model's, written with `--out
assistant/escalation/data`) is what the router uses for requests with tools unless `escalation.calibration_dir`
has its own.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..engine.events import ChatMessage, ToolCall
from ..errors import InvalidRequestError
from ..tools import Tool, ToolSpec
from .defaults import CALIBRATION_DIR, TOOLS_FILE
from .heldout import SPLITS, build_rows, fit_combination, judge, require_both_outcomes, risk
from .scoring import Calibration
from .signals import DISTRIBUTION_SIGNALS, SIGNALS
from .sweep import Question, Sample, answer_seed, serving_params

DATASET = CALIBRATION_DIR / "tool_calls.json"
"""The graded tool-call requests shipped with Hearth (456 requests over two tool sets, split by template)."""
WINDOW = 48
"""Tokens of a call the signals are computed over: every call of the data set fits (the longest is ~35
tokens in the generic format), so the window is the whole call."""
FEATURES: tuple[str, ...] = SIGNALS
"""All signals: a call is short and mostly forced, so the sampled tokens' own log-probabilities (the device
and the value the model picked) carry what the distribution signals alone do not."""
MAX_TOKENS = 96


@dataclass(frozen=True)
class ToolCase:
    """One graded request: the tools offered, and the one call that is right."""

    id: str
    request: str
    spec: ToolSpec
    name: str
    arguments: dict
    intent: str
    split: str
    template: int


def load_tool_set(path: Path = DATASET) -> list[ToolCase]:
    """The cases of a tool-call data set: a JSON object with `tool_sets` (name -> list of {name, description,
    parameters}) and `requests` ({id, tools, request, expected: {name, arguments}, intent, split, template}).
    Every case is asked with `tool_choice: required`, one call.

    Raises InvalidRequestError for an unreadable or malformed file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        specs = {name: ToolSpec(tuple(Tool(**t) for t in tools), "required", parallel=False)
                 for name, tools in data["tool_sets"].items()}
        return [ToolCase(r["id"], r["request"], specs[r["tools"]], r["expected"]["name"],
                         r["expected"]["arguments"], r["intent"], r["split"], int(r["template"]))
                for r in data["requests"]]
    except OSError as exc:
        raise InvalidRequestError(f"cannot read the tool-call set {path}: {exc.strerror}", param="dataset") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidRequestError(f"{path}: not a tool-call set ({exc.__class__.__name__}: {exc})",
                                  param="dataset") from None


def is_right(calls: Sequence[ToolCall], case: ToolCase) -> bool:
    """Exactly one call, of the expected tool, with the expected arguments (21 and 21.0 are the same)."""
    if len(calls) != 1 or calls[0].name != case.name:
        return False
    try:
        got = json.loads(calls[0].arguments)
    except ValueError:
        return False
    return _same(got, case.arguments)


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


SAMPLERS: dict[str, float | None] = {"default": None, "greedy": 0.0, "hot": 1.0}
"""The samplers calls are collected under, by name: the default sampler (temperature 0.6), greedy decoding and
temperature 1.0. A client picks its own temperature, and a threshold chosen under one sampler does not hold under
another (fit under the default sampler only, it escalated 31.6% of default-sampler calls but 2.4% of greedy ones),
so the fit and its threshold see all three."""


def collect(assistant, cases: Sequence[ToolCase], repeats: int,
            progress: Callable[[int, int], None] | None = None,
            samplers: Sequence[str] = ("default",)) -> list[Sample]:
    """Every case answered `repeats` times under each of `samplers` (names in `SAMPLERS`) by `assistant`
    (escalation off), seeded per case and repeat (`sweep.answer_seed`), with two alternatives per token (the
    margin and gap signals). A sample's `seed` is `sampler index * repeats + repeat`."""
    from ..assistant import ChatRequest

    samples = []
    total = len(cases) * repeats * len(samplers)
    for k, sampler in enumerate(samplers):
        temperature = SAMPLERS[sampler]
        for repeat in range(repeats):
            index = k * repeats + repeat
            for case in cases:
                params = serving_params(answer_seed(case.id, index), MAX_TOKENS)
                if temperature is not None:
                    params = params.model_copy(update={"temperature": temperature})
                started = time.perf_counter()
                reply = assistant.complete(ChatRequest(messages=[ChatMessage("user", case.request)],
                                                       params=params, tools=case.spec))
                text = json.dumps([{"name": c.name, "arguments": c.arguments} for c in reply.tool_calls])
                samples.append(Sample(case.id, index, text, int(not is_right(reply.tool_calls, case)),
                                      list(reply.tokens), (time.perf_counter() - started) * 1000))
                if progress:
                    progress(len(samples), total)
    return samples


def fit(samples: Sequence[Sample], cases: Sequence[ToolCase], target_rate: float, model: str,
        window: int = WINDOW, features: Sequence[str] = FEATURES,
        samplers: Sequence[str] = ("default",)) -> tuple[dict, Calibration]:
    """The held-out report and the calibration (`mode: tools`) on `features`, for samples collected under
    `samplers` (the report's `escalation_rate_per_sampler`). Raises InvalidRequestError when a split lacks right
    or wrong calls."""
    questions = {c.id: Question(c.id, c.request, (), None, c.intent, "tool", c.split, c.template) for c in cases}
    require_both_outcomes(samples, questions, "calls")
    rows = {split: build_rows(samples, questions, split, window) for split in SPLITS}
    cal = fit_combination(features, rows["train"], rows["validation"], window, target_rate)
    threshold = cal.threshold_for(target_rate)
    scores = np.array([cal.score(r) for r in rows["test"].signals])
    held = judge(scores, rows["test"], threshold)
    held["threshold"] = round(threshold, 6)
    held["signals"] = {name: judge(risk(rows["test"], name), rows["test"])["auroc"] for name in SIGNALS}
    per_seed = held.pop("escalation_rate_per_seed")
    repeats = max(1, len(per_seed) // len(samplers))
    held["escalation_rate_per_sampler"] = {
        name: round(float(np.mean([per_seed[i] for i in range(k * repeats, (k + 1) * repeats) if i in per_seed])), 4)
        for k, name in enumerate(samplers)}
    kept = scores <= threshold
    held["right_of_kept"] = round(float(1 - rows["test"].wrong[kept].mean()), 4) if kept.any() else None
    held["right_of_escalated"] = round(float(1 - rows["test"].wrong[~kept].mean()), 4) if (~kept).any() else None
    date = datetime.now(timezone.utc).date().isoformat()
    meta = {"model": model, "mode": "tools", "date": date, "sampler": "+".join(samplers),
            "seeds": sorted({s.seed for s in samples}), "seed_per_answer": "sweep.answer_seed(request id, repeat)",
            "dataset": "tool_calls.json (scripts/make_tool_set.py)",
            "fit": f"train ({len(rows['train'])} calls)", "threshold_from": f"validation ({len(rows['validation'])} "
            "calls)", "held_out": {k: held[k] for k in ("n", "accuracy", "auroc", "escalation_rate",
                                                       "right_of_kept", "right_of_escalated", "escalation_rate_per_sampler")},
            **cal.meta}
    report = {"model": model, "requests": len(cases), "calls": len(samples), "target_rate": target_rate,
              "date": date, "test": held}
    return report, Calibration(cal.features, cal.mean, cal.scale, cal.weights, cal.bias, threshold, window, meta)


FEATURE_SETS: dict[str, tuple[str, ...]] = {"all": SIGNALS, "distribution": DISTRIBUTION_SIGNALS}
"""The feature sets a fit may use: every signal, or only those of the model's distribution at each step
(entropy, top-1 probability, gap), which do not read the sampled token's own probability."""


def main(argv: Sequence[str] | None = None) -> None:
    from ..runtime import build_assistant
    from ..settings import load_settings

    ap = argparse.ArgumentParser(description="Fit the tool-call calibration on the graded tool-call set.")
    ap.add_argument("--dataset", type=Path, default=DATASET)
    ap.add_argument("--out", type=Path, default=None, help="directory for calibration_tools.json (default: none)")
    ap.add_argument("--repeats", type=int, default=1, help="answers per request under each sampler")
    ap.add_argument("--samplers", default="default,greedy,hot", help=f"comma-separated, of {', '.join(SAMPLERS)}")
    ap.add_argument("--features", choices=FEATURE_SETS, default="all",
                    help="the feature set of the calibration written with --out (both are reported)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--report", type=Path, default=Path("bench-results/tool_calibration.json"))
    args = ap.parse_args(argv)
    samplers = tuple(args.samplers.split(","))
    if unknown := [n for n in samplers if n not in SAMPLERS]:
        ap.error(f"unknown sampler(s) {', '.join(unknown)}; choose from {', '.join(SAMPLERS)}")
    settings = load_settings(engine={"n_threads": args.threads, "n_ctx": 2048}, escalation={"enabled": False})
    assistant = build_assistant(settings)
    try:
        cases = load_tool_set(args.dataset)
        started = time.perf_counter()
        samples = collect(assistant, cases, args.repeats,
                          lambda i, n: print(f"\r{i}/{n} calls", end="", flush=True) if i % 20 == 0 else None,
                          samplers)
        print(f"\ncollected {len(samples)} calls in {time.perf_counter() - started:.0f} s")
        fits = {name: fit(samples, cases, settings.escalation.target_rate, assistant.model_info.id,
                          features=features, samplers=samplers) for name, features in FEATURE_SETS.items()}
    finally:
        assistant.close()
        assistant.engine.close()
    for name, (report, _) in fits.items():
        _print_report(name, report)
    report, cal = fits[args.features]
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps({name: r for name, (r, _) in fits.items()}, indent=2) + "\n")
    if args.out is not None:
        path = args.out / TOOLS_FILE  # never `calibration_file`'s fallback: that is the shipped file
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_text(cal.to_json())
        print(f"wrote {path} ({args.features} signals)")


def _print_report(name: str, report: dict) -> None:
    held = report["test"]
    rates = ", ".join(f"{k} {100 * v:.1f}%" for k, v in held["escalation_rate_per_sampler"].items())
    print(f"[{name} signals] test: {held['n']} calls, {100 * held['accuracy']:.1f}% right; AUROC "
          f"{held['auroc'][0]:.3f} [{held['auroc'][1]:.3f}, {held['auroc'][2]:.3f}]; escalates "
          f"{100 * held['escalation_rate']:.1f}% at target {report['target_rate']:g} ({rates}); right of kept "
          f"{held['right_of_kept']}, of escalated {held['right_of_escalated']}; 80% of the gap at "
          f"{100 * held['share_for_80pct_gap']:.1f}% escalated")


if __name__ == "__main__":
    main()
