"""Measure every escalation signal on the held-out split from a sweep cache (scripts/sweep_escalation.py):
per-kind and overall AUROC with bootstrap 95% intervals, deferral curves, the share of requests that must be
escalated to recover 80% of the gap to an always-right cloud, for single signals, the probes, the self-check,
k-sample agreement and their combinations.

    python3 scripts/escalation_report.py [--cache ~/.cache/hearth-calibration/sweep.jsonl]
        [--out bench-results/escalation_signals.json] [--plot docs/escalation-signals.png]
        [--markdown docs/escalation-signals.md]

Fit on `train`, ridge strength and thresholds on `validation`, every number on `test`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.escalation import evaluate as E
from assistant.escalation.heldout import build_rows, fit_combination, fit_probe, judge, out_of_fold, risk
from assistant.escalation.signals import DISTRIBUTION_SIGNALS, SIGNALS
from assistant.escalation.sweep import load_questions, read_cache, sweep_order

ROOT = Path(__file__).resolve().parent.parent
SAMPLED = ("mean_logprob", "min_logprob", "window_min", "low_quantile", "nll", "mean_margin")
PROBES = {"question_probe": "prompt_last", "question_probe_mean": "prompt_mean"}
WINDOWS = {"stream": (8, "answer_window"), "complete": (None, "answer_all")}


def add_probe(name: str, key: str, rows: dict) -> dict:
    """Fit a probe on train hidden states; store its logit as a signal in every split (out-of-fold on train)."""
    tr, va = rows["train"], rows["validation"]
    scorer, params = fit_probe(tr.states[key], tr.wrong, va.states[key], va.wrong)
    oof = out_of_fold(tr.states[key], tr.wrong, tr.qids, params["l2"])
    for r, v in zip(tr.signals, oof):
        r[name] = float(v)
    for split in ("validation", "test"):
        for r, v in zip(rows[split].signals, scorer(rows[split].states[key])):
            r[name] = float(v)
    return params


def run_mode(mode: str, samples, questions, target: float) -> dict:
    """All seeds' answers for the token signals, agreement and the fits on them; the probed seed's answers
    (hidden states and self-check were taken for it only) for the probes and every combination with them."""
    window, answer_key = WINDOWS[mode]
    splits = ("train", "validation", "test")
    rows = {s: build_rows(samples, questions, s, window) for s in splits}
    out: dict = {"window": window, "all_seeds": _measure(rows, SIGNALS + ("agreement",), _token_combos(), target)}
    probed = {s: build_rows(samples, questions, s, window, probed=True) for s in splits}
    if len(probed["train"]):
        probes = {}
        for name, key in {**PROBES, "answer_probe": answer_key}.items():
            probes[name] = add_probe(name, key, probed)["l2"]
        res = _measure(probed, SIGNALS + ("agreement", "self_check", *probes), _token_combos() | _probe_combos(),
                       target)
        res["probe_l2"] = probes
        out["probed_seed"] = res
    return out


def _measure(rows: dict, singles, combos: dict, target: float) -> dict:
    out: dict = {"singles": {}, "fits": {}}
    for name in singles:
        out["singles"][name] = judge(risk(rows["test"], name), rows["test"])
    for name, feats in combos.items():
        cal = fit_combination(feats, rows["train"], rows["validation"], 0, target)
        scores = np.array([cal.score(r) for r in rows["test"].signals])
        out["fits"][name] = judge(scores, rows["test"], cal.threshold) | {"features": list(feats)}
    return out


def _token_combos() -> dict:
    return {"sampled-token fit": SAMPLED, "distribution fit": DISTRIBUTION_SIGNALS,
            "distribution + agreement": DISTRIBUTION_SIGNALS + ("agreement",)}


def _probe_combos() -> dict:
    return {"distribution + self-check": DISTRIBUTION_SIGNALS + ("self_check",),
            "distribution + question probe": DISTRIBUTION_SIGNALS + ("question_probe",),
            "distribution + answer probe": DISTRIBUTION_SIGNALS + ("answer_probe",),
            "distribution + both probes": DISTRIBUTION_SIGNALS + ("question_probe", "answer_probe"),
            "distribution + probes + self-check": DISTRIBUTION_SIGNALS + (
                "question_probe", "answer_probe", "self_check"),
            "question probe + answer probe": ("question_probe", "answer_probe"),
            "all": DISTRIBUTION_SIGNALS + ("question_probe", "answer_probe", "self_check", "agreement")}


def table(title: str, result: dict) -> str:
    lines = [f"\n{title}", (f"{'signal':36} {'AUROC [95% CI]':24} {'facts':7} {'in-kind':7} {'80% gap':7} "
                            f"{'esc.rate':8}")]
    for part in ("singles", "fits"):
        for name, r in result[part].items():
            a = r["auroc"]
            lines.append(f"{name:36} {a[0]:.3f} [{a[1]:.3f}, {a[2]:.3f}]   {_f(r['facts_pooled'][0])}   "
                         f"{_f(r['within_fact_kinds_mean'])}   {r['share_for_80pct_gap']:.3f}   "
                         f"{_f(r.get('escalation_rate'))}")
    return "\n".join(lines)


def markdown(result: dict) -> str:
    """One table per mode and answer set (all seeds; the probed seed), for docs/."""
    out = [(f"Test split, {result['n_answers']} answers over seeds {result['seeds']}; fits on train, ridge "
           "strength and thresholds on validation. AUROC for \"the answer is wrong\" with 95% bootstrap "
           "intervals over questions; `facts`: pooled over fact kinds; `within`: mean of the per-kind AUROCs "
           "over fact kinds; `80% gap`: share escalated to recover 80% of the gap to an always-right cloud; "
           f"`rate`: share escalated at the threshold for target {result['target_rate']:.0%}."), ""]
    for mode in WINDOWS:
        for part, title in (("all_seeds", "all seeds"), ("probed_seed", "seed 0 (hidden states, self-check)")):
            res = result[mode].get(part)
            if not res:
                continue
            out += [f"### {mode}, {title}", "", "| signal | AUROC [95% CI] | facts | within | 80% gap | rate |",
                    "|---|---|---|---|---|---|"]
            for kind in ("singles", "fits"):
                for name, r in res[kind].items():
                    a = r["auroc"]
                    out.append(f"| {name} | {a[0]:.3f} [{a[1]:.3f}, {a[2]:.3f}] | {_f(r['facts_pooled'][0])} | "
                               f"{_f(r['within_fact_kinds_mean'])} | {r['share_for_80pct_gap']:.1%} | "
                               f"{_f(r.get('escalation_rate'))} |")
            out.append("")
    return "\n".join(out)


def _f(value: float | None) -> str:
    return "  n/a" if value is None else f"{value:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "assistant" / "escalation" / "data" / "qa_graded.jsonl")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "hearth-calibration" / "sweep.jsonl")
    ap.add_argument("--target-rate", type=float, default=0.3)
    ap.add_argument("--limit", type=int, default=None, help="the first N questions of the sweep order")
    ap.add_argument("--out", type=Path, default=ROOT / "bench-results" / "escalation_signals.json")
    ap.add_argument("--plot", type=Path, default=None)
    ap.add_argument("--markdown", type=Path, default=None, help="write the tables as Markdown here")
    args = ap.parse_args()
    questions = {q.id: q for q in sweep_order(load_questions(args.data))[:args.limit]}
    samples = [s for s in read_cache(args.cache) if s.qid in questions]
    result = {"n_answers": len(samples), "seeds": sorted({s.seed for s in samples}),
              "target_rate": args.target_rate}
    for mode in WINDOWS:
        result[mode] = res = run_mode(mode, samples, questions, args.target_rate)
        print(table(f"{mode}: all seeds, test split", res["all_seeds"]))
        if "probed_seed" in res:
            print(table(f"{mode}: the probed seed, test split", res["probed_seed"]))
    first = result["stream"]["all_seeds"]["singles"]["mean_entropy"]
    print(f"\ntest accuracy {first['accuracy']:.3f}; a perfect score needs "
          f"{first['oracle_share_for_80pct_gap']:.3f} escalated to recover 80% of the gap")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    if args.markdown:
        args.markdown.write_text(markdown(result) + "\n")
        print(f"wrote {args.markdown}")
    if args.plot:
        res = result["complete"].get("probed_seed") or result["complete"]["all_seeds"]
        curves = {n: res["fits"][n]["deferral"] for n in res["fits"]}
        curves["oracle"] = [(s, min(1.0, first["accuracy"] + s)) for s, _ in first["deferral"]]
        E.plot_deferral(curves, args.plot, "Deferral on held-out questions (whole answers)")
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
