"""Calibration (`hearth calibrate`): answer graded questions under the sampler that serves (a seed per
question and repeat), fit the combined score and (where the engine gives hidden states) the answer
hidden-state probe on the `train` split, read their thresholds for the target escalation rate from the
`validation` split, and judge them on the `test` split only (AUROC overall and per kind with bootstrap
intervals, the deferral curve, the share of requests that recovers 80% of the gap to an always-right cloud).
The shipped calibration is this procedure's output on `data/qa_graded.jsonl` (scripts/make_qa_set.py)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..errors import InvalidRequestError
from .defaults import CALIBRATION_DIR, Mode
from .heldout import (
    SPLITS,
    Rows,
    build_rows,
    fit_combination,
    fit_state_probe,
    judge,
    require_both_outcomes,
    risk,
)
from .scoring import Calibration, Probe
from .signals import DISTRIBUTION_SIGNALS, SIGNALS
from .sweep import STATE_WINDOW, Collector, Question, Sample, sweep

DATASET = CALIBRATION_DIR / "qa_graded.jsonl"
"""The graded development set shipped with Hearth (1,070 questions over 9 kinds, split by template)."""
FEATURES: tuple[str, ...] = DISTRIBUTION_SIGNALS
"""The shipped combination: the per-step distribution signals (sampler-independent, no extra pass)."""


def load_dataset(path: Path) -> list[Question]:
    """JSON lines with `question` and `answers` (a list of strings); optional `number`, `kind`, `group`,
    `split`, `template`. Rows without a split get one from a hash of their id (60/20/20).

    Raises InvalidRequestError for an unreadable file, a malformed line or fewer than 10 questions."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidRequestError(f"cannot read the data set {path}: {exc.strerror}", param="dataset") from None
    out = []
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            qid = str(row.get("id", no))
            split = row.get("split") or _hashed_split(qid)
            if split not in SPLITS:
                raise ValueError(split)
            number = row.get("number")
            out.append(Question(qid, str(row["question"]), tuple(str(a) for a in row["answers"]),
                                None if number is None else float(number), str(row.get("kind", "other")),
                                str(row.get("group", "fact")), split, int(row.get("template", 0))))
        except (ValueError, KeyError, TypeError):
            raise InvalidRequestError(f"{path}:{no}: expected a JSON object with `question` and a list of "
                                      "`answers` (and `split` one of train, validation, test)",
                                      param="dataset") from None
    if len(out) < 10:
        raise InvalidRequestError(f"{path}: calibration needs at least 10 questions, found {len(out)}",
                                  param="dataset")
    return out


def _hashed_split(qid: str) -> str:
    bucket = int(hashlib.sha256(qid.encode()).hexdigest(), 16) % 10
    return "train" if bucket < 6 else "validation" if bucket < 8 else "test"


def collect(engine, questions: Sequence[Question], seeds: Sequence[int], max_tokens: int,
            cache: Path | None = None, progress: Callable[[int, int], None] | None = None,
            hidden: bool = True) -> list[Sample]:
    """Answers of `engine` to every question under the default sampler, once per repeat index in `seeds`
    (each with its own seed, `sweep.answer_seed`), cached in `cache`. With `hidden` and an engine that gives
    hidden states, the first repeat's answers also get them (and the self-check) for the answer probe: a
    second context on the engine's model, used on this thread (the engine must not be owned by a scheduler)."""
    states = None
    if hidden and getattr(engine.capabilities, "hidden_states", False):
        from ..engine.llamacpp_embed import HiddenStates

        threads = getattr(getattr(engine, "config", None), "n_threads", 1)
        states = HiddenStates(engine.model_handle, n_ctx=min(engine.info.n_ctx, 512), n_threads=threads)
    try:
        return sweep(Collector(engine, max_tokens, states), questions, seeds, cache, progress)
    finally:
        if states is not None:
            states.close()


def fit(samples: Sequence[Sample], questions: Sequence[Question], windows: Mapping[Mode, int | None],
        target_rate: float, model: Mapping[str, object]) -> tuple[dict, dict[Mode, Calibration]]:
    """The held-out report and one calibration per mode (`windows[mode]` tokens; None: the whole answer).
    `model`: `id`, `quantization` and optionally `sha256` of the model that answered. Where the answers carry
    hidden states for the mode's window (`sweep.STATE_WINDOW` tokens, or the whole answer), the calibration
    also carries the answer probe, and the report has its held-out numbers under `probe_<mode>`.

    Raises InvalidRequestError when a split lacks right or wrong answers (nothing to learn or judge)."""
    by_id = {q.id: q for q in questions}
    require_both_outcomes(samples, by_id, "answers")
    seeds = sorted({s.seed for s in samples})
    data: dict = {"model": model["id"], "questions": len(questions), "answers": len(samples), "seeds": seeds,
                  "target_rate": target_rate, "features": list(FEATURES),
                  "date": datetime.now(timezone.utc).date().isoformat()}
    fits: dict[Mode, Calibration] = {}
    for mode, window in windows.items():
        rows = {split: build_rows(samples, by_id, split, window) for split in SPLITS}
        cal = fit_combination(FEATURES, rows["train"], rows["validation"], window or 0, target_rate)
        threshold = cal.threshold_for(target_rate)
        scores = np.array([cal.score(r) for r in rows["test"].signals])
        held = judge(scores, rows["test"], threshold)
        held["threshold"] = round(threshold, 6)
        held["signals"] = {name: judge(risk(rows["test"], name), rows["test"])["auroc"] for name in SIGNALS}
        data[mode] = held
        meta = {"model": model["id"], "mode": mode, "date": data["date"], "seeds": seeds, "sampler": "default",
                "seed_per_answer": "sweep.answer_seed(question id, repeat)",
                "fit": f"train ({len(rows['train'])} answers)",
                "threshold_from": f"validation ({len(rows['validation'])} answers)",
                "held_out": _headline(held), **cal.meta}
        probe = _probe(samples, by_id, window, target_rate, model, data, mode)
        fits[mode] = Calibration(cal.features, cal.mean, cal.scale, cal.weights, cal.bias, threshold,
                                 window or 0, meta, probe)
    return data, fits


def _headline(held: dict) -> dict:
    return {k: held[k] for k in ("n", "accuracy", "auroc", "facts_pooled", "within_fact_kinds_mean",
                                 "share_for_80pct_gap", "oracle_share_for_80pct_gap", "escalation_rate")}


def _probe(samples: Sequence[Sample], by_id: Mapping[str, Question], window: int | None, target_rate: float,
           model: Mapping[str, object], data: dict, mode: Mode) -> Probe | None:
    """The answer probe for `window` from the answers with hidden states (None when there are too few, or
    none recorded for this window); its held-out report goes into `data[f"probe_{mode}"]`."""
    key = "answer_all" if window is None or window >= max(len(s.tokens) for s in samples) else (
        "answer_window" if window == STATE_WINDOW else None)
    if key is None:
        return None
    rows: dict[str, Rows] = {split: build_rows(samples, by_id, split, window, probed=True) for split in SPLITS}
    if any(len(r) < 10 or key not in r.states or not 2 <= r.wrong.sum() <= len(r) - 2 for r in rows.values()):
        return None
    params = fit_state_probe(rows["train"], rows["validation"], key, target_rate)
    threshold = params["threshold"]
    held = judge(params["score"](rows["test"].states[key]), rows["test"], threshold)
    held["threshold"] = round(threshold, 6)
    data[f"probe_{mode}"] = held
    n_embd = int(rows["train"].states[key].shape[1])
    meta = {"mode": mode, "date": data["date"], "state": f"mean last-layer state over the window's answer "
            f"tokens ({key})", "l2": params["l2"], "fit": f"train ({len(rows['train'])} answers)",
            "threshold_from": f"validation ({len(rows['validation'])} answers)", "held_out": _headline(held)}
    return Probe(str(model["id"]), str(model["quantization"]), n_embd, tuple(params["mean"].tolist()),
                 tuple(params["scale"].tolist()), tuple(params["weights"].tolist()), float(params["bias"]),
                 round(float(threshold), 6), tuple(params["score_quantiles"].tolist()),
                 model.get("sha256"), meta)  # type: ignore[arg-type]
