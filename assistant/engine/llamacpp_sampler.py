"""Build a llama.cpp sampler chain from SamplingParams (sampling runs in C; Python only picks the pieces)."""

from __future__ import annotations

import ctypes
import math
import os
import re
from typing import Any

import llama_cpp as L
import numpy as np

from ..errors import InvalidRequestError
from .sampling import SamplingParams


def random_seed() -> int:
    return int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF


def build_sampler(params: SamplingParams, vocab: Any, n_vocab: int) -> SequenceSampler:
    """A new sampler for one sequence; the caller frees it with `.free()`. Raises InvalidRequestError."""
    bias = _bias_entries(params.logit_bias, n_vocab) if params.logit_bias else None
    if params.grammar:
        check_grammar(params.grammar)
    made = _stages(params, bias, n_vocab, bool(params.grammar))
    if params.grammar:
        made.append((L.llama_sampler_init_grammar(vocab, params.grammar.encode("utf-8"), b"root"), "grammar"))
    if not all(sampler for sampler, _ in made):
        for sampler, _ in made:
            if sampler:
                L.llama_sampler_free(sampler)
        what = next(what for sampler, what in made if not sampler)
        raise InvalidRequestError(f"invalid {what} for the sampler", param=what)
    if not params.grammar:
        return SequenceSampler(_chain([s for s, _ in made]), None, None, n_vocab)
    head, (select, _), (grammar, _) = made[:-2], made[-2], made[-1]
    return SequenceSampler(_chain([s for s, _ in head]), grammar, select, n_vocab)


SHORTLIST = 40
"""Candidates a greedy grammar-constrained pick is chosen among: llama.cpp's default top-k. The best allowed
token is among them whenever any allowed token is; when none is, the grammar judges the whole vocabulary."""


def _stages(params: SamplingParams, bias: Any, n_vocab: int, grammar: bool) -> list[tuple[Any, str]]:
    """The samplers in llama.cpp's order, the selecting one (greedy or a seeded draw) last, each with the
    request field it comes from (a NULL sampler means that field's value is invalid)."""
    out: list[tuple[Any, str]] = []
    if bias is not None:  # first, so a boosted token survives top-k (llama.cpp's own order)
        out.append((L.llama_sampler_init_logit_bias(n_vocab, len(bias), bias), "logit_bias"))
    # Penalties scan every candidate; after top-k they scan 40 instead of the whole vocabulary (llama.cpp's own
    # advice), which keeps sampling off the per-token critical path.
    if params.top_k > 0 and not params.greedy:
        out.append((L.llama_sampler_init_top_k(params.top_k), "top_k"))
    if params.repeat_penalty != 1.0 or params.frequency_penalty or params.presence_penalty:
        out.append((L.llama_sampler_init_penalties(n_vocab, params.penalty_last_n, params.repeat_penalty,
                                                   params.frequency_penalty, params.presence_penalty), "penalties"))
    if params.greedy:
        if grammar:
            out.append((L.llama_sampler_init_top_k(SHORTLIST), "top_k"))
        out.append((L.llama_sampler_init_greedy(), "temperature"))
        return out
    if params.top_p < 1.0:
        out.append((L.llama_sampler_init_top_p(params.top_p, 1), "top_p"))
    if params.min_p > 0.0:
        out.append((L.llama_sampler_init_min_p(params.min_p, 1), "min_p"))
    out.append((L.llama_sampler_init_temp(params.temperature), "temperature"))
    seed = params.seed if params.seed is not None else random_seed()
    out.append((L.llama_sampler_init_dist(seed & 0xFFFFFFFF), "seed"))
    return out


def _chain(samplers: list[Any]) -> Any:
    chain = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
    for sampler in samplers:
        L.llama_sampler_chain_add(chain, sampler)  # the chain owns it from here
    return chain


_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])
"""The layout of llama.cpp's `llama_token_data` (checked against ctypes' when a grammar sampler is made)."""


class SequenceSampler:
    """One sequence's sampling: a llama.cpp sampler chain, with a grammar kept outside it.

    Without a grammar the whole chain runs in C (`llama_sampler_sample`). A GBNF grammar judged against all
    49,152 candidates costs more per token than this model's decode step, so the grammar judges only the
    candidates the truncating samplers (top-k, top-p, min-p) keep, and the draw (or greedy pick) is made among
    those it allows; only when it allows none of them does it judge the whole vocabulary, before the truncation
    runs again (llama.cpp's `common_sampler_sample` likewise judges the drawn token first, common/sampling.cpp).
    A greedy pick is the same token either way; a draw is truncated relative to the whole distribution rather
    than to the allowed part of it."""

    def __init__(self, chain: Any, grammar: Any, select: Any, n_vocab: int) -> None:
        self.chain, self.grammar, self.select, self.n_vocab = chain, grammar, select, n_vocab
        if grammar is None:
            return
        if ctypes.sizeof(L.llama_token_data) != _TOKEN_DATA.itemsize:
            raise RuntimeError("llama_token_data's layout changed in this llama-cpp-python")
        self._ids = np.arange(n_vocab, dtype=np.int32)
        self._all = np.zeros(n_vocab, dtype=_TOKEN_DATA)

    def sample(self, ctx: Any, index: int) -> int:
        """The next token from the logits row `index` of `ctx`'s last decode; advances the sampler's state."""
        if self.grammar is None:
            return int(L.llama_sampler_sample(self.chain, ctx, index))
        logits = np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, index), shape=(self.n_vocab,))
        cur = self._candidates(logits)
        L.llama_sampler_apply(self.chain, ctypes.byref(cur))
        L.llama_sampler_apply(self.grammar, ctypes.byref(cur))
        cur.sorted = False  # the grammar may have struck out the best candidate; the draw must not assume it first
        if not np.isfinite(_view(cur)["logit"]).any():
            cur = self._candidates(logits)
            L.llama_sampler_apply(self.grammar, ctypes.byref(cur))
            L.llama_sampler_apply(self.chain, ctypes.byref(cur))
        L.llama_sampler_apply(self.select, ctypes.byref(cur))
        if cur.selected < 0:
            raise RuntimeError("the sampler selected no token")
        token = int(_view(cur)["id"][cur.selected])
        for sampler in (self.grammar, self.chain, self.select):
            L.llama_sampler_accept(sampler, token)
        return token

    def _candidates(self, logits: np.ndarray) -> Any:
        self._all["id"] = self._ids
        self._all["logit"] = logits
        self._all["p"] = 0.0
        return L.llama_token_data_array(data=self._all.ctypes.data_as(ctypes.POINTER(L.llama_token_data)),
                                        size=self.n_vocab, selected=-1, sorted=False)

    def free(self) -> None:
        for sampler in (self.chain, self.grammar, self.select):
            if sampler:
                L.llama_sampler_free(sampler)
        self.chain = self.grammar = self.select = None


def _view(cur: Any) -> np.ndarray:
    """The candidates `cur` holds now (samplers may shrink it, and could point it at storage of their own)."""
    size = int(cur.size)
    raw = (ctypes.c_char * (size * _TOKEN_DATA.itemsize)).from_address(ctypes.addressof(cur.data.contents))
    return np.frombuffer(raw, dtype=_TOKEN_DATA, count=size)


# OpenAI: "values like -100 or 100 should result in a ban or exclusive selection of the relevant token". An added
# -100 only makes a token unlikely (a 135M model's logits span more than that), so -100 is made a true ban.
_BAN = -100.0


def _bias_entries(bias: dict[int, float], n_vocab: int) -> Any:
    """A ctypes array of `llama_logit_bias` for `bias` (raises InvalidRequestError for ids outside the vocabulary)."""
    bad = [token for token in bias if not 0 <= token < n_vocab]
    if bad:
        raise InvalidRequestError(f"logit_bias: token id {bad[0]} is outside the vocabulary (0..{n_vocab - 1})",
                                  param="logit_bias")
    return (L.llama_logit_bias * len(bias))(*[
        L.llama_logit_bias(token, -math.inf if value <= _BAN else value) for token, value in bias.items()])


# llama.cpp parses GBNF by recursive descent, one C++ stack frame chain per nested group: a grammar nested some
# 20,000 groups deep (what llama-cpp-python's converter makes of `{"maxLength": 20000}`) overflows the stack and
# kills the process (measured here: 10,000 parses, 20,000 and 100,000 crash). 1,000 leaves a tenfold margin.
MAX_GRAMMAR_DEPTH = 1000


_NOT_GROUPS = re.compile(r'"(?:\\.|[^"\\])*"|\[(?:\\.|[^\]\\])*\]|#[^\r\n]*')


def grammar_depth(grammar: str) -> int:
    """How deeply groups `( ... )` nest in a GBNF grammar (parentheses in literals, classes and comments aside)."""
    depth = deepest = 0
    for paren in re.findall(r"[()]", _NOT_GROUPS.sub("", grammar)):
        depth += 1 if paren == "(" else -1
        deepest = max(deepest, depth)
    return deepest


def check_grammar(grammar: str, param: str = "grammar") -> None:
    """Raise InvalidRequestError for a grammar nested deeper than llama.cpp's parser can take without crashing."""
    if grammar_depth(grammar) > MAX_GRAMMAR_DEPTH:
        raise InvalidRequestError(f"{param}: groups nest deeper than {MAX_GRAMMAR_DEPTH} levels", param=param)
