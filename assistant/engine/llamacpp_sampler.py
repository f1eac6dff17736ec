"""Build a llama.cpp sampler chain from SamplingParams (sampling runs in C; Python only picks the pieces)."""

from __future__ import annotations

import os
from typing import Any

import llama_cpp as L

from ..errors import InvalidRequestError
from .sampling import SamplingParams


def random_seed() -> int:
    return int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF


def build_sampler(params: SamplingParams, vocab: Any, n_vocab: int) -> Any:
    """A new sampler chain; the caller frees it with `L.llama_sampler_free`."""
    chain = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())

    def add(sampler: Any, what: str) -> None:
        if not sampler:
            L.llama_sampler_free(chain)
            raise InvalidRequestError(f"invalid {what} for the sampler", param=what)
        L.llama_sampler_chain_add(chain, sampler)

    if params.grammar:
        add(L.llama_sampler_init_grammar(vocab, params.grammar.encode("utf-8"), b"root"), "grammar")
    penalties = params.repeat_penalty != 1.0 or params.frequency_penalty or params.presence_penalty
    # Penalties scan every candidate; after top-k they scan 40 instead of the whole vocabulary (llama.cpp's own
    # advice), which keeps sampling off the per-token critical path.
    if params.top_k > 0 and not params.greedy:
        add(L.llama_sampler_init_top_k(params.top_k), "top_k")
    if penalties:
        add(L.llama_sampler_init_penalties(n_vocab, params.penalty_last_n, params.repeat_penalty,
                                           params.frequency_penalty, params.presence_penalty), "penalties")
    if params.greedy:
        add(L.llama_sampler_init_greedy(), "temperature")
        return chain
    if params.top_p < 1.0:
        add(L.llama_sampler_init_top_p(params.top_p, 1), "top_p")
    if params.min_p > 0.0:
        add(L.llama_sampler_init_min_p(params.min_p, 1), "min_p")
    add(L.llama_sampler_init_temp(params.temperature), "temperature")
    seed = params.seed if params.seed is not None else random_seed()
    add(L.llama_sampler_init_dist(seed & 0xFFFFFFFF), "seed")
    return chain
