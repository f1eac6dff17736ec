"""Hidden states and logits from the embeddings context beside the real default model's engine."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.engine.events import ChatMessage, TokenEvent
from assistant.engine.llamacpp_embed import HiddenStates
from assistant.engine.sampling import SamplingParams
from assistant.errors import ContextOverflowError
from tests.threads import THREADS

QUESTION = [ChatMessage("user", "What is the capital of France?")]


@pytest.fixture(scope="module")
def hidden(engine):
    # TODO(lead): the engine's public accessor for its loaded model, once it has one.
    states = HiddenStates(engine.model_handle, n_ctx=256, n_threads=THREADS)
    yield states
    states.close()


def test_states_and_logits_agree_with_the_engine(engine, hidden: HiddenStates) -> None:
    prompt = engine.prompt_tokens(QUESTION)
    states, logits = hidden.run(prompt, [0, -1], [-1])
    assert states.shape == (2, hidden.n_embd) and logits.shape == (1, hidden.n_vocab)
    assert np.isfinite(states).all() and not np.allclose(states[0], states[1])
    greedy = SamplingParams(temperature=0.0, max_tokens=1)
    first = next(e for e in engine.generate(QUESTION, greedy) if isinstance(e, TokenEvent))
    assert int(np.argmax(logits[0])) == first.token_id  # the same model, the same next token


def test_a_shared_prefix_is_reused_and_gives_the_same_states(engine, hidden: HiddenStates) -> None:
    prompt = engine.prompt_tokens(QUESTION)
    extended = prompt + engine.tokenize(" Paris", special=False)
    hidden.run(engine.prompt_tokens([ChatMessage("user", "Something else entirely.")]), [-1])
    fresh, _ = hidden.run(extended, [-1])
    hidden.run(prompt, [-1])
    reused, _ = hidden.run(extended, [-1])
    assert hidden.reused == len(prompt)
    np.testing.assert_allclose(reused, fresh, rtol=0, atol=2e-2 * np.abs(fresh).max())


def test_too_long_input_is_refused(hidden: HiddenStates) -> None:
    with pytest.raises(ContextOverflowError):
        hidden.run([1] * (hidden.n_ctx + 1), [-1])


def test_decoding_in_chunks_gives_the_same_states(engine, hidden: HiddenStates) -> None:
    tokens = engine.prompt_tokens(QUESTION) + engine.tokenize(" The capital of France is Paris.", special=False)
    wanted = [0, 9, len(tokens) - 3, -1]  # in the first, a middle and the last of the 8-token chunks
    whole, _ = hidden.run(tokens, wanted)
    with HiddenStates(engine.model_handle, n_ctx=256, n_threads=THREADS, n_batch=8) as chunked:
        pieces, logits = chunked.run(tokens, wanted, [-1])
    assert len(tokens) > 16 and pieces.shape == whole.shape and logits.shape == (1, chunked.n_vocab)
    np.testing.assert_allclose(pieces, whole, rtol=0, atol=2e-2 * np.abs(whole).max())
