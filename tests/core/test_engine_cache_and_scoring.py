"""KV prefix reuse across turns, exact token counts, and logprobs equal to an independent re-scoring."""

from __future__ import annotations

import ctypes

import llama_cpp as L
import numpy as np

from assistant.engine import ChatMessage, Finish, SamplingParams, TokenEvent
from assistant.engine.llamacpp_load import load_model
from tests.threads import THREADS


def test_follow_up_turn_reuses_the_history(engine):
    history = [ChatMessage("system", "You are terse."), ChatMessage("user", "Name a fruit.")]
    first = [e for e in engine.generate(history, SamplingParams(max_tokens=20, seed=1))][-1]
    reply = "Apple."
    follow = history + [ChatMessage("assistant", reply), ChatMessage("user", "And a vegetable?")]
    second = [e for e in engine.generate(follow, SamplingParams(max_tokens=20, seed=1))][-1]
    assert isinstance(second, Finish)
    # Everything up to the end of the first prompt is shared, so it is not processed again.
    assert second.usage.cached_tokens >= first.usage.prompt_tokens - 1
    assert second.usage.prompt_tokens == engine.count_tokens(follow)


def test_count_tokens_matches_the_rendered_template(engine):
    msgs = [ChatMessage("user", "Hello there")]
    text = engine.render_chat(msgs)
    assert text.endswith("<|im_start|>assistant\n")
    assert engine.count_tokens(msgs) == len(engine.tokenize(text))


def _rescore(model_path, prompt_tokens, gen_tokens):
    """Log-probabilities of gen_tokens given prompt_tokens, from one batched forward pass with all logits."""
    model = load_model(model_path)
    cp = L.llama_context_default_params()
    seq = prompt_tokens + gen_tokens
    cp.n_ctx = cp.n_batch = cp.n_ubatch = max(256, len(seq))
    cp.n_threads = cp.n_threads_batch = THREADS
    ctx = L.llama_init_from_model(model, cp)
    batch = L.llama_batch_init(len(seq), 0, 1)
    try:
        batch.n_tokens = len(seq)
        for i, tok in enumerate(seq):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = tok, i, 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = True
        assert L.llama_decode(ctx, batch) == 0
        n_vocab = L.llama_vocab_n_tokens(L.llama_model_get_vocab(model))
        out = []
        for j, tok in enumerate(gen_tokens):
            row = np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, len(prompt_tokens) - 1 + j), shape=(n_vocab,))
            row = row.astype(np.float64)
            out.append(float(row[tok] - (row.max() + np.log(np.exp(row - row.max()).sum()))))
        return out
    finally:
        L.llama_batch_free(batch)
        L.llama_free(ctx)
        L.llama_model_free(model)


def test_logprobs_match_a_rescoring(engine):
    msgs = [ChatMessage("user", "List three animals.")]
    engine.reset()  # prefill the prompt in one batch as the reference does: other batch splits round differently
    events = list(engine.generate(msgs, SamplingParams(max_tokens=24, seed=11)))
    toks = [e for e in events if isinstance(e, TokenEvent)]
    reference = _rescore(engine.info.path, engine.prompt_tokens(msgs), [t.token_id for t in toks])
    got = np.array([t.logprob for t in toks])
    assert np.all(np.isfinite(got))
    # Batched and incremental evaluation differ only by float rounding.
    assert np.max(np.abs(got - np.array(reference))) < 0.05, (got, reference)
    assert ctypes.sizeof(ctypes.c_float) == 4
