"""Embeddings from the real default model through its scheduler (`assistant.embeddings`)."""

from __future__ import annotations

import ctypes
import threading

import llama_cpp as L
import numpy as np
import pytest

from assistant.embeddings import Embedder
from assistant.engine.events import ChatMessage, Finish, TextDelta
from assistant.engine.llamacpp_pool import CHUNK, model_pooling
from assistant.engine.sampling import SamplingParams
from assistant.errors import ContextOverflowError, EngineError, InvalidRequestError, RequestCancelledError
from assistant.scheduler import Scheduler
from assistant.settings import load_settings

N_CTX = 512
LONG = " ".join(f"Sentence number {i} talks about the weather in a different town." for i in range(25))


@pytest.fixture(scope="module")
def engine1(default_model_path):
    # One thread: on a shared two-core machine, two llama.cpp threads slow down many times when the other core is busy.
    from assistant.runtime import load_engine

    eng = load_engine(load_settings(model=str(default_model_path), engine={"n_ctx": N_CTX, "n_threads": 1}))
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def embedder(engine1):
    emb = Embedder(Scheduler.of(engine1))
    yield emb
    emb.close()


def _llamacpp_mean(model, tokens: list[int], n_embd: int) -> np.ndarray:
    """llama.cpp's own mean pooling of `tokens` (one decode in a context with LLAMA_POOLING_TYPE_MEAN)."""
    params = L.llama_context_default_params()
    params.n_ctx = params.n_batch = params.n_ubatch = N_CTX
    params.n_threads = params.n_threads_batch = 1
    params.embeddings = True
    params.pooling_type = L.LLAMA_POOLING_TYPE_MEAN
    ctx = L.llama_init_from_model(model, params)
    batch = L.llama_batch_init(len(tokens), 0, 1)
    try:
        batch.n_tokens = len(tokens)
        for i, token in enumerate(tokens):
            batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, i, 1, 1
            batch.seq_id[i][0] = 0
        assert L.llama_decode(ctx, batch) == 0
        ptr = L.llama_get_embeddings_seq(ctx, 0)
        return np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), shape=(n_embd,)).copy()
    finally:
        L.llama_batch_free(batch)
        L.llama_free(ctx)


def test_pooling_in_chunks_matches_llamacpps_own_mean_pooling(engine1, embedder: Embedder) -> None:
    assert model_pooling(engine1.model_handle) == "mean"  # SmolLM2 declares no pooling: mean, as documented
    tokens = engine1.prompt_tokens(LONG)
    assert 2 * CHUNK < len(tokens) <= N_CTX  # three chunks, so the pieces are stitched twice
    ours = embedder.embed([LONG], normalize=False)
    assert ours.prompt_tokens == (len(tokens),) and ours.truncated_tokens == (0,) and ours.pooling == "mean"
    reference = _llamacpp_mean(engine1.model_handle, tokens, embedder.n_embd)
    np.testing.assert_allclose(ours.vectors[0], reference, rtol=0, atol=1e-3 * np.abs(reference).max())


def test_texts_and_token_arrays_give_the_same_unit_vectors(engine1, embedder: Embedder) -> None:
    text = "Turn on the kitchen lights."
    tokens = engine1.prompt_tokens(text)
    out = embedder.embed([text, tokens, "Something else entirely."])
    assert out.vectors.shape == (3, embedder.n_embd) and out.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out.vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out.vectors[0], out.vectors[1], atol=1e-5)
    assert not np.allclose(out.vectors[0], out.vectors[2], atol=1e-2)
    assert out.prompt_tokens[:2] == (len(tokens), len(tokens)) and out.total_tokens == sum(out.prompt_tokens)


def test_inputs_decoded_together_match_each_decoded_alone(embedder: Embedder) -> None:
    texts = ["Set an alarm for 7 am.", "Wake me up at seven in the morning.", LONG, "Good night.", "Hi"]
    together = embedder.embed(texts).vectors  # four short ones share batches as separate sequences; LONG is alone
    for i, text in enumerate(texts):
        np.testing.assert_allclose(together[i], embedder.embed([text]).vectors[0], atol=2e-4, err_msg=text)


def test_an_input_longer_than_the_context_is_refused_unless_truncation_is_asked(engine1, embedder) -> None:
    text = LONG + " " + LONG
    n = len(engine1.prompt_tokens(text))
    assert n > N_CTX
    with pytest.raises(ContextOverflowError) as caught:
        embedder.embed(["short", text])
    assert caught.value.param == "input[1]" and str(n) in caught.value.message
    assert caught.value.prompt_tokens == n and caught.value.limit == N_CTX
    cut = embedder.embed([text], truncate=True)
    assert cut.prompt_tokens == (N_CTX,) and cut.truncated_tokens == (n - N_CTX,)


@pytest.mark.parametrize(("inputs", "param", "words"), [
    ([], "input", "must not be empty"),
    (["fine", ""], "input[1]", "is empty"),
    ([[1, 2, 49152]], "input", "outside the vocabulary"),
    ([[-1]], "input", "outside the vocabulary"),
    (["\ud800"], "input", "lone surrogate"),
])
def test_bad_inputs_are_refused_with_a_sentence(embedder: Embedder, inputs, param, words) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        embedder.embed(inputs)
    assert caught.value.param == param and words in caught.value.message


def test_a_request_over_its_token_cap_is_refused_before_decoding(embedder: Embedder) -> None:
    with pytest.raises(InvalidRequestError, match="at most 5"):
        embedder.embed(["one two three", "four five six"], max_tokens=5)


def test_embedding_while_a_stream_decodes_on_the_same_scheduler(engine1, embedder: Embedder) -> None:
    alone = embedder.embed(["The doctor examined the patient."]).vectors[0]
    scheduler = Scheduler.of(engine1)
    stream = scheduler.generate([ChatMessage("user", "Count from one to twenty.")],
                                SamplingParams(temperature=0.0, max_tokens=40))
    first = next(e for e in stream if isinstance(e, TextDelta))
    during = embedder.embed(["The doctor examined the patient.", LONG])
    rest = list(stream)
    finish = rest[-1]
    assert first.text and isinstance(finish, Finish) and finish.usage.completion_tokens > 1
    np.testing.assert_allclose(during.vectors[0], alone, atol=1e-4)  # the decode did not disturb the embedding


class _SetAfterFirstBatch(threading.Event):
    """Reads as set from its second look on: the request is cancelled after its first batch."""

    def __init__(self) -> None:
        super().__init__()
        self.looks = 0

    def is_set(self) -> bool:
        self.looks += 1
        return self.looks > 1


def test_a_cancelled_request_stops_between_batches_and_leaves_nothing_behind(embedder: Embedder) -> None:
    before = embedder.embed([LONG]).vectors[0]
    cancel = _SetAfterFirstBatch()
    with pytest.raises(RequestCancelledError):
        embedder.embed([LONG], cancel=cancel)  # three batches: stopped after the first
    assert cancel.looks == 2
    np.testing.assert_allclose(embedder.embed([LONG]).vectors[0], before, atol=1e-5)


def test_a_closed_embedder_says_the_model_is_shutting_down(engine1) -> None:
    emb = Embedder(Scheduler.of(engine1))
    emb.embed(["warm up"])
    emb.close()
    with pytest.raises(EngineError, match="shutting down"):
        emb.embed(["after close"])
