"""Answer the graded question set with the default model under the default sampler (a seed per question and
repeat), recording per-token distributions, hidden states and the self-check, into a resumable cache.
The shipped calibration came from `--seeds 0` over all 1,070 questions, then
`hearth calibrate --seed 0 --cache CACHE --out assistant/escalation/data --report docs/escalation-calibration`.

    python3 scripts/sweep_escalation.py [--data assistant/escalation/data/qa_graded.jsonl] [--seeds 0 1 2]
        [--max-tokens 24] [--probe-seeds 1] [--threads 1] [--cache ~/.cache/hearth-calibration/sweep.jsonl] [--no-hidden]

Then `python3 scripts/escalation_report.py` measures every signal from the cache. Timings printed at the end
(decode, hidden-state pass) are of this machine as it was loaded when the sweep ran.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.escalation.sweep import Collector, load_questions, sweep
from assistant.runtime import load_engine, open_store
from assistant.settings import DEFAULT_MODEL, load_settings

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = Path.home() / ".cache" / "hearth-calibration" / "sweep.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "assistant" / "escalation" / "data" / "qa_graded.jsonl")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                    help="repeat indices: each answers every question once, with a sampler seed derived from the "
                    "question id and the index (sweep.answer_seed)")
    ap.add_argument("--max-tokens", type=int, default=24)
    ap.add_argument("--probe-seeds", type=int, default=1, help="seeds that also get hidden states + self-check")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--no-hidden", action="store_true", help="skip hidden states and the self-check")
    args = ap.parse_args()

    settings = load_settings()
    store = open_store(settings)
    if store.get(DEFAULT_MODEL) is None:
        store.pull(DEFAULT_MODEL)
    settings = load_settings(engine={"n_ctx": 512, "n_threads": args.threads})
    engine = load_engine(settings)
    hidden = None
    if not args.no_hidden:
        from assistant.engine.llamacpp_embed import HiddenStates
        hidden = HiddenStates(engine.model_handle, n_ctx=512, n_threads=args.threads)
    questions = load_questions(args.data)[:args.limit]
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def progress(done: int, total: int) -> None:
        if done % 50 == 0 or done == total:
            rate = done / max(time.monotonic() - started, 1e-9)
            print(f"{done}/{total} ({rate:.2f}/s)", flush=True)

    samples = sweep(Collector(engine, args.max_tokens, hidden), questions, args.seeds, args.cache, progress,
                    args.probe_seeds)
    acc = 1 - sum(s.wrong for s in samples) / len(samples)
    print(f"{len(samples)} answers, accuracy {acc:.3f}")
    for name, values in (("decode ms", [s.decode_ms for s in samples]),
                         ("hidden+self-check pass ms", [s.hidden_ms for s in samples if s.hidden_ms])):
        if values:
            print(f"{name}: p50 {statistics.median(values):.1f}  (under load; 1 thread)")
    if hidden is not None:
        hidden.close()
    engine.close()


if __name__ == "__main__":
    main()
