"""Context policies, the Session's history, the settings schema and the default sampling's loop resistance."""

from __future__ import annotations

from itertools import pairwise

import pytest

from assistant.assistant import Assistant, ChatRequest
from assistant.budget import fit_context
from assistant.engine import ChatMessage, SamplingParams
from assistant.errors import ConfigError, ContextOverflowError, InvalidRequestError
from assistant.session import Session
from assistant.settings import load_settings


def _long_history(n: int) -> list[ChatMessage]:
    msgs = []
    for i in range(n):
        msgs.append(ChatMessage("user", f"Question {i}: " + "tell me about rivers and mountains " * 8))
        msgs.append(ChatMessage("assistant", f"Answer {i}: " + "rivers flow down from mountains " * 8))
    return msgs


def test_truncate_oldest_keeps_system_and_newest(engine):
    msgs = [ChatMessage("system", "Be brief.")] + _long_history(10) + [ChatMessage("user", "Last question?")]
    result = fit_context(msgs, engine.count_tokens, n_ctx=600, reserve=100, policy="truncate-oldest")
    assert result.truncated and result.prompt_tokens <= 500
    assert result.messages[0].role == "system" and result.messages[-1].content == "Last question?"
    assert result.dropped[0] == msgs[1]  # oldest first
    assert result.prompt_tokens == engine.count_tokens(result.messages)
    assert result.overflow_tokens == engine.count_tokens(msgs) - 500


def test_error_policy_raises_typed_error(engine):
    msgs = _long_history(10)
    with pytest.raises(ContextOverflowError) as info:
        fit_context(msgs, engine.count_tokens, n_ctx=600, reserve=100, policy="error")
    assert info.value.prompt_tokens == engine.count_tokens(msgs) and info.value.limit == 600


def test_fitting_prompt_is_untouched(engine):
    msgs = [ChatMessage("user", "hi")]
    result = fit_context(msgs, engine.count_tokens, n_ctx=2048, reserve=256, policy="error")
    assert not result.truncated and result.messages == tuple(msgs)


def test_single_message_too_long_cannot_be_truncated(engine):
    msgs = [ChatMessage("system", "x " * 400), ChatMessage("user", "y " * 400)]
    with pytest.raises(ContextOverflowError):
        fit_context(msgs, engine.count_tokens, n_ctx=300, reserve=50, policy="truncate-oldest")


def test_assistant_reports_truncation_and_session_forgets(engine):
    settings = load_settings(engine={"n_ctx": 2048, "reserve_tokens": 64, "context_policy": "truncate-oldest"})
    assistant = Assistant(engine, settings)
    session = Session(system="Be brief.")
    session.turns = _long_history(22)
    request = ChatRequest(messages=session.messages("Final?"), params=SamplingParams(max_tokens=8, seed=1))
    reply = assistant.complete(request)
    budget = reply.decision.budget
    assert budget.truncated and "context_truncated" in reply.decision.reasons
    before = len(session.turns)
    session.forget(budget)
    assert len(session.turns) == before - len(budget.dropped)
    assert reply.finish.usage.prompt_tokens == budget.prompt_tokens


def test_raw_prompt_over_context_is_refused(engine):
    assistant = Assistant(engine, load_settings())
    with pytest.raises(ContextOverflowError):
        assistant.complete(ChatRequest(prompt="word " * 2100, params=SamplingParams(max_tokens=4)))
    with pytest.raises(InvalidRequestError):
        ChatRequest(params=SamplingParams())


def test_settings_precedence(tmp_path, monkeypatch):
    toml = tmp_path / "config.toml"
    toml.write_text('model = "from-toml"\nprivacy = "redact"\n[engine]\nn_ctx = 1024\n[sampling]\ntop_k = 5\n')
    monkeypatch.setenv("HEARTH_ENGINE_N_CTX", "3000")
    s = load_settings(toml, sampling={"top_k": 9})
    assert s.model == "from-toml" and s.privacy == "redact"
    assert s.engine.n_ctx == 3000  # env beats the file
    assert s.sampling.top_k == 9  # explicit (CLI) beats everything
    monkeypatch.setenv("HEARTH_HOME", str(tmp_path))
    assert load_settings().model == "from-toml"  # $HEARTH_HOME/config.toml is read by default


def test_settings_errors_are_typed(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="engine.n_ctx"):
        load_settings(engine={"n_ctx": "lots"})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("model = [unclosed")
    with pytest.raises(ConfigError):
        load_settings(broken)
    monkeypatch.setenv("HEARTH_SAMPLING_TEMPERATURE", "hot")
    with pytest.raises(ConfigError, match="sampling.temperature"):
        load_settings()


LOOP_PROMPTS = [
    "Write a short story about a cat.",
    "Describe your favourite city.",
    "Explain how rain forms.",
    "List some tips for learning to cook.",
    "What is a computer?",
    "Tell me about the moon.",
]


def _max_4gram_repeats(tokens: list[int]) -> int:
    counts: dict[tuple[int, ...], int] = {}
    for i in range(len(tokens) - 3):
        key = tuple(tokens[i:i + 4])
        counts[key] = counts.get(key, 0) + 1
    return max(counts.values(), default=0)


def test_default_sampling_avoids_repetition_loops(engine):
    """Plain greedy decoding loops on this model; the default sampling must not (no 4-gram more than 3 times)."""
    defaults = load_settings().sampling
    worst = {}
    for i, prompt in enumerate(LOOP_PROMPTS):
        params = defaults.model_copy(update={"max_tokens": 160, "seed": 1000 + i})
        ids = [e.token_id for e in engine.generate([ChatMessage("user", prompt)], params) if hasattr(e, "token_id")]
        worst[prompt] = _max_4gram_repeats(ids)
    assert max(worst.values()) <= 3, worst


def test_truncation_drops_whole_exchanges_so_roles_alternate(engine):
    """Gemma 3's and Mistral's templates refuse a conversation whose roles do not alternate: truncation never
    leaves an assistant message first, and a leading greeting goes with its exchange."""
    greeting = [ChatMessage("system", "Be brief."), ChatMessage("assistant", "Hello! Ask me anything.")]
    for msgs in (greeting + _long_history(10) + [ChatMessage("user", "Last?")],
                 _long_history(10) + [ChatMessage("user", "Last?")]):
        result = fit_context(msgs, engine.count_tokens, n_ctx=600, reserve=100, policy="truncate-oldest")
        roles = [m.role for m in result.messages if m.role != "system"]
        assert roles[0] == "user" and roles[-1] == "user" and result.truncated
        assert all(a != b for a, b in pairwise(roles)), roles
        assert result.dropped_tokens == engine.count_tokens(msgs) - result.prompt_tokens
        assert len(result.dropped) % 2 == (1 if msgs[0].role == "system" else 0)


def test_truncation_keeps_the_newest_exchange_or_refuses(engine):
    msgs = [ChatMessage("user", "a " * 50), ChatMessage("assistant", "b " * 50), ChatMessage("user", "c " * 400)]
    with pytest.raises(ContextOverflowError):
        fit_context(msgs, engine.count_tokens, n_ctx=300, reserve=50, policy="truncate-oldest")
    many = [ChatMessage("user" if i % 2 == 0 else "assistant", f"turn {i}") for i in range(401)]
    result = fit_context(many, engine.count_tokens, n_ctx=300, reserve=50, policy="truncate-oldest")
    assert result.messages[0].role == "user" and result.messages[-1] == many[-1]
    assert result.prompt_tokens <= 250 and len(result.messages) % 2 == 1
    fewer = fit_context(many[len(result.dropped) - 2:], engine.count_tokens, 300, 50, "truncate-oldest")
    assert len(fewer.dropped) == 2  # the fewest whole exchanges were dropped, not more


def test_text_that_cannot_be_encoded_is_refused_by_name():
    with pytest.raises(InvalidRequestError) as err:
        ChatRequest(messages=[ChatMessage("user", "ok"), ChatMessage("user", "bad \ud800")])
    assert err.value.param == "messages[1].content"
    with pytest.raises(InvalidRequestError) as err:
        ChatRequest(prompt="x", params=SamplingParams(stop=("\udfff",)))
    assert err.value.param == "stop[0]"
