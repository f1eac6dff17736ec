"""Collecting what calibration learns from: the local model's answers to graded questions under the sampler
that serves (several seeds), each with its per-token distributions, and optionally the hidden states and the
self-check probability that the probes need. Results are cached as JSON lines (one per question and seed) so
an interrupted or repeated sweep recomputes nothing."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..engine.events import ChatMessage, TextDelta, TokenEvent, TopLogprob
from ..engine.sampling import SamplingParams
from .grading import is_correct

SELF_CHECK = "Is that answer correct? Reply yes or no."
"""The follow-up question whose "yes" probability is the self-check signal."""
TOP_K = 5
"""Alternatives kept per token (top-1 and top-2 feed the distribution signals)."""
STATE_WINDOW = 8
"""Answer tokens whose mean hidden state feeds the streamed-answer probe (the stream decision window)."""
_MARK = "\x1fHEARTH-ANSWER\x1f"


@dataclass(frozen=True)
class Question:
    """One graded question (a line of the data set)."""

    id: str
    question: str
    answers: tuple[str, ...]
    number: float | None = None
    kind: str = "other"
    group: str = "fact"
    split: str = "train"
    template: int = 0


@dataclass
class Sample:
    """One answer of the local model to one question (its `seed`-th repeat, sampled with `answer_seed`)."""

    qid: str
    seed: int
    """The repeat index (0, 1, ...); the sampler's seed is `answer_seed(qid, seed)`."""
    text: str
    wrong: int
    tokens: list[TokenEvent]
    decode_ms: float
    p_yes: float | None = None
    """P("yes") when asked whether the answer is right (self-check), or None if not measured."""
    states: dict[str, np.ndarray] = field(default_factory=dict)
    """Hidden states: `prompt_last`, `prompt_mean`, `answer_window`, `answer_all` (float32, n_embd)."""
    hidden_ms: float | None = None


def load_questions(path: Path) -> list[Question]:
    out = []
    for no, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            r = json.loads(line)
            out.append(Question(str(r.get("id", no)), r["question"], tuple(map(str, r["answers"])),
                                r.get("number"), r.get("kind", "other"), r.get("group", "fact"),
                                r.get("split", "train"), int(r.get("template", 0))))
    return out


def answer_seed(qid: str, repeat: int) -> int:
    """The sampler seed of a question's `repeat`-th answer: a hash of both (31 bits), so every question draws
    its own random stream, as serving draws a fresh seed per request. One seed for every question replays the
    same stream everywhere (a seed that draws an unlikely first token does so for all), which skewed the share
    escalated to 10-52% depending on the seed (docs/escalation-signals.md)."""
    return int.from_bytes(hashlib.sha256(f"{qid}:{repeat}".encode()).digest()[:4], "big") & 0x7FFFFFFF


def serving_params(seed: int, max_tokens: int) -> SamplingParams:
    """The default sampler (what `hearth serve` uses when a client sets nothing), seeded, with alternatives."""
    return SamplingParams(seed=seed, max_tokens=max_tokens, top_logprobs=TOP_K)


class Collector:
    """Answers questions with `engine` (the `Engine` protocol); with `hidden` (a `HiddenStates` on the same
    model) it also records hidden states and the self-check."""

    def __init__(self, engine, max_tokens: int, hidden=None) -> None:
        self.engine, self.max_tokens, self.hidden = engine, max_tokens, hidden
        self._prompt_states: tuple | None = None
        if hidden is not None:
            self._yes = self._first_tokens(("yes", "Yes", " yes", " Yes", "YES"))
            self._no = self._first_tokens(("no", "No", " no", " No", "NO"))

    def _first_tokens(self, words: Iterable[str]) -> list[int]:
        return sorted({self.engine.tokenize(w, special=False)[0] for w in words})

    def answer(self, q: Question, repeat: int, probe: bool = True) -> Sample:
        """The `repeat`-th answer to `q` (sampler seed `answer_seed(q.id, repeat)`), probed if asked and able."""
        messages = [ChatMessage("user", q.question)]
        started = time.perf_counter()
        tokens, parts = [], []
        for event in self.engine.generate(messages, serving_params(answer_seed(q.id, repeat), self.max_tokens)):
            if isinstance(event, TokenEvent):
                tokens.append(event)
            elif isinstance(event, TextDelta):
                parts.append(event.text)
        decode_ms = (time.perf_counter() - started) * 1000
        text = "".join(parts)
        sample = Sample(q.id, repeat, text, 0 if is_correct(text, q.answers, q.number) else 1, tokens, decode_ms)
        if self.hidden is not None and probe:
            self._probe(messages, sample)
        return sample

    def _probe(self, messages: list[ChatMessage], sample: Sample) -> None:
        prompt = self.engine.prompt_tokens(messages)
        answer = [t.token_id for t in sample.tokens]
        convo = self.engine.render_chat(messages + [ChatMessage("assistant", _MARK), ChatMessage("user", SELF_CHECK)])
        suffix = self.engine.tokenize(convo.split(_MARK, 1)[1], special=True)
        tokens = (prompt + answer + suffix)[-self.hidden.n_ctx:]
        p, n = len(prompt), len(answer)
        # The prompt's states do not depend on the seed: computed once per prompt, its KV reused after.
        fresh = self._prompt_states is None or self._prompt_states[0] != prompt
        k = min(p, 64) if fresh else 0
        positions = list(range(p - k, p + n))  # the prompt's tail (when fresh), then every answer token
        started = time.perf_counter()
        states, logits = self.hidden.run(tokens, positions, [-1])
        sample.hidden_ms = (time.perf_counter() - started) * 1000
        if fresh:
            tail = states[:k]
            self._prompt_states = (prompt, tail[-1], tail.mean(axis=0))
        _, last, mean = self._prompt_states
        ans = states[k:]
        sample.states = {"prompt_last": last, "prompt_mean": mean,
                         "answer_window": ans[:STATE_WINDOW].mean(axis=0) if n else last,
                         "answer_all": ans.mean(axis=0) if n else last}
        row = logits[0].astype(np.float64)
        row = np.exp(row - row.max())
        yes, no = row[self._yes].sum(), row[self._no].sum()
        sample.p_yes = float(yes / (yes + no)) if yes + no > 0 else 0.5


def sweep(collector: Collector, questions: Sequence[Question], seeds: Sequence[int], cache: Path | None,
          progress: Callable[[int, int], None] | None = None, probe_seeds: int = 1) -> list[Sample]:
    """Every question answered once per repeat index in `seeds` (each answer sampled with `answer_seed`),
    reading finished answers from `cache` and appending new ones to it. Hidden states and the self-check
    (when the collector has them) are taken for the first `probe_seeds` repeats only: they cost a second pass.
    Questions go in a fixed shuffled order, so a sweep stopped early still covers every kind."""
    done = {(s.qid, s.seed): s for s in read_cache(cache)} if cache is not None and cache.exists() else {}
    out, total = [], len(questions) * len(seeds)
    order = sweep_order(questions)
    sink = cache.open("a", encoding="utf-8") if cache is not None else None
    try:
        for q in order:  # a question's seeds in a row: the engine reuses its prompt's KV
            for i, seed in enumerate(seeds):
                probe = collector.hidden is not None and i < probe_seeds
                sample = done.get((q.id, seed))
                if sample is None or (probe and sample.p_yes is None):
                    sample = collector.answer(q, seed, probe)
                    if sink is not None:
                        sink.write(json.dumps(_to_row(sample)) + "\n")
                        sink.flush()
                out.append(sample)
                if progress:
                    progress(len(out), total)
    finally:
        if sink is not None:
            sink.close()
    return out


def sweep_order(questions: Sequence[Question]) -> list[Question]:
    """The fixed shuffled order a sweep answers in; its first N questions are a fair sample of all kinds."""
    order = list(questions)
    np.random.default_rng(0).shuffle(order)
    return order


def read_cache(path: Path) -> list[Sample]:
    """Samples from a cache file (the last line wins for a repeated question and seed). Lines without a
    `sampler_seed` come from sweeps that used one seed for every question; they are skipped."""
    rows: dict[tuple[str, int], Sample] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    for no, line in enumerate(lines):
        if line.strip():
            try:
                row = json.loads(line)
                if "sampler_seed" not in row:
                    continue
                s = _from_row(row)
            except ValueError:
                if no == len(lines) - 1:
                    break  # a line still being written (or cut off by an interrupted sweep)
                raise
            rows[(s.qid, s.seed)] = s
    return list(rows.values())


def _to_row(s: Sample) -> dict:
    return {"qid": s.qid, "seed": s.seed, "sampler_seed": answer_seed(s.qid, s.seed), "text": s.text, "wrong": s.wrong, "decode_ms": round(s.decode_ms, 2),
            "hidden_ms": None if s.hidden_ms is None else round(s.hidden_ms, 2), "p_yes": s.p_yes,
            "tokens": [[t.token_id, round(t.logprob, 5), None if t.entropy is None else round(t.entropy, 5),
                        [[a.token_id, round(a.logprob, 5)] for a in t.top]] for t in s.tokens],
            "states": {k: base64.b64encode(v.astype(np.float16).tobytes()).decode() for k, v in s.states.items()}}


def _from_row(r: dict) -> Sample:
    tokens = [TokenEvent(t[0], b"", t[1], tuple(TopLogprob(a[0], b"", a[1]) for a in t[3]), t[2])
              for t in r["tokens"]]
    states = {k: np.frombuffer(base64.b64decode(v), dtype=np.float16).astype(np.float32)
              for k, v in r.get("states", {}).items()}
    return Sample(r["qid"], r["seed"], r["text"], r["wrong"], tokens, r["decode_ms"], r.get("p_yes"), states,
                  r.get("hidden_ms"))
