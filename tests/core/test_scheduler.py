"""The core scheduler on the real default model: batched sequences get what they would get alone, prompt caching
per slot, shared prompt KV, cancellation within one step or one prefill chunk, the busy error."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from assistant.engine.events import ChatMessage, Finish, TextDelta, TokenEvent
from assistant.engine.sampling import SamplingParams
from assistant.errors import EngineBusyError
from assistant.runtime import load_engine
from assistant.scheduler import Scheduler
from assistant.settings import load_settings
from tests.threads import THREADS

# Per-token |logprob difference| allowed between a sequence decoded alone and the same one in a batch with others.
# llama.cpp's CPU matmul switches kernels when a forward pass holds 64 tokens or more (measured here: the same
# 37-token prompt's logits move by up to 0.53 once a second sequence brings the batch to 64 tokens, and by 0 below
# that), so a prompt prefilled beside others can round differently from the same prompt alone. Measured on the
# requests below: up to ~0.2 nats per token.
LOGPROB_TOLERANCE = 0.35

REQUESTS = [
    ([ChatMessage("user", "Name three colours.")], SamplingParams(temperature=0.0, max_tokens=24, top_logprobs=2)),
    ([ChatMessage("user", "What is the capital of France?")], SamplingParams(seed=7, max_tokens=24)),
    ([ChatMessage("user", "Give me a JSON object with a name.")],
     SamplingParams(temperature=0.0, max_tokens=24, top_logprobs=2,
                    grammar='root ::= "{\\"name\\": \\"" [a-z]{1,8} "\\"}"')),
    ([ChatMessage("user", "Count from one to ten.")],
     SamplingParams(temperature=1.0, seed=3, top_k=0, top_p=1.0, min_p=0.0, max_tokens=24, stop=("five",))),
]


@pytest.fixture(scope="module")
def scheduler(default_model_path):
    settings = load_settings(model=str(default_model_path),
                             engine={"n_ctx": 4096, "n_threads": THREADS, "parallel": 4, "n_batch": 256})
    engine = load_engine(settings)
    sched = Scheduler(engine, max_queue=2)
    yield sched
    engine.close()  # stops the scheduler first
    assert not sched.running


def collect(events) -> tuple[str, list[TokenEvent], Finish]:
    text, tokens, finish = [], [], None
    for event in events:
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, TokenEvent):
            tokens.append(event)
        elif isinstance(event, Finish):
            finish = event
    assert finish is not None
    return "".join(text), tokens, finish


def wait_idle(sched: Scheduler, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while sched.busy_slots or sched.waiting:
        assert time.monotonic() < end, "slots stayed busy"
        time.sleep(0.01)


def fresh(sched: Scheduler, run):
    """`run()` on an empty KV cache, so no prompt is served from an earlier request's cache."""
    wait_idle(sched)
    sched.engine.reset()  # safe here: an idle loop waits for work and touches nothing
    return run()


def compare(alone, batched) -> float:
    """The largest per-token logprob difference before the two diverge; a greedy divergence must be a near tie."""
    (text_a, tokens_a, fin_a), (text_b, tokens_b, fin_b), greedy = alone, batched[:3], batched[3]
    same = 0
    while same < min(len(tokens_a), len(tokens_b)) and tokens_a[same].token_id == tokens_b[same].token_id:
        same += 1
    worst = max((abs(a.logprob - b.logprob) for a, b in zip(tokens_a[:same], tokens_b[:same])), default=0.0)
    assert worst <= LOGPROB_TOLERANCE
    if same == len(tokens_a) == len(tokens_b):
        assert text_a == text_b and fin_a.reason == fin_b.reason
    elif greedy and same < min(len(tokens_a), len(tokens_b)):
        # The batched run picked another token: only allowed where the two best were within the tolerance.
        lead = {t.token_id: t.logprob for t in tokens_a[same].top}
        assert tokens_b[same].token_id in lead
        assert tokens_a[same].logprob - lead[tokens_b[same].token_id] <= 2 * LOGPROB_TOLERANCE
    return worst


def test_batched_sequences_get_what_they_get_alone(scheduler):
    alone = [fresh(scheduler, lambda r=r: collect(scheduler.generate(*r))) for r in REQUESTS]
    steps_before, width_before = scheduler.stats.steps, scheduler.stats.step_sequences
    with ThreadPoolExecutor(len(REQUESTS)) as pool:
        together = fresh(scheduler, lambda: list(pool.map(lambda r: collect(scheduler.generate(*r)), REQUESTS)))
    steps = scheduler.stats.steps - steps_before
    assert (scheduler.stats.step_sequences - width_before) / steps > 1.5, "the sequences were not batched"
    worst = max(compare(a, (*b, params.greedy)) for a, b, (_, params) in zip(alone, together, REQUESTS))
    print(f"largest per-token logprob difference, alone vs batched: {worst:.3f} nats")
    assert together[2][0].startswith('{"name": "') and together[2][0].endswith('"}')  # each kept its grammar
    assert together[3][2].reason == "stop" or "five" not in together[3][0]  # and its stop string


def test_follow_up_turn_reuses_its_slot_cache(scheduler):
    wait_idle(scheduler)
    history = [ChatMessage("user", "Tell me about owls in two sentences.")]
    text, _, first = collect(scheduler.generate(history, SamplingParams(temperature=0.0, max_tokens=20)))
    # Other requests in between take other slots; the conversation still finds its own.
    for i in range(2):
        collect(scheduler.generate([ChatMessage("user", f"Unrelated question {i}?")],
                                   SamplingParams(max_tokens=4, seed=i)))
    follow = [*history, ChatMessage("assistant", text), ChatMessage("user", "And about cats?")]
    _, _, second = collect(scheduler.generate(follow, SamplingParams(temperature=0.0, max_tokens=4)))
    assert second.usage.cached_tokens >= first.usage.prompt_tokens


def test_parallel_choices_share_their_prompt_kv(scheduler):
    wait_idle(scheduler)
    prompt = [ChatMessage("system", f"You are assistant {uuid.uuid4().hex}. " * 40), ChatMessage("user", "Hi.")]
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda s: collect(scheduler.generate(prompt, SamplingParams(seed=s, max_tokens=8))),
                                range(3)))
    cached = sorted(r[2].usage.cached_tokens for r in results)
    n_prompt = results[0][2].usage.prompt_tokens
    assert cached[0] < n_prompt // 4  # one computed the prompt (beyond a few template tokens other slots had) ...
    assert cached[1] >= n_prompt - 1 and cached[2] >= n_prompt - 1  # ... the others copied its KV


def test_cancel_during_a_long_prefill_frees_the_slot_within_one_chunk(scheduler):
    wait_idle(scheduler)
    long_prompt = uuid.uuid4().hex + " The quick brown fox jumps over the lazy dog." * 300  # 12 chunks of 256
    n_prompt = scheduler.engine.count_tokens(long_prompt)
    assert n_prompt > 2900
    cancel = threading.Event()
    events = scheduler.generate(long_prompt, SamplingParams(max_tokens=8), cancel=cancel)
    reader = threading.Thread(target=lambda: list(events), daemon=True)
    reader.start()
    while scheduler.stats.steps == 0 or not scheduler.busy_slots:
        time.sleep(0.001)
    start_steps = scheduler.stats.steps
    while scheduler.stats.steps < start_steps + 2:  # a couple of chunks in
        time.sleep(0.001)
    cancel.set()
    at_cancel = scheduler.stats.steps
    wait_idle(scheduler)
    assert scheduler.stats.steps - at_cancel <= 1
    reader.join(5)
    assert max(len(scheduler.engine.slot_tokens(i)) for i in range(4)) < n_prompt, "the whole prompt was processed"


def test_closing_the_stream_frees_the_slot(scheduler):
    wait_idle(scheduler)
    stream = scheduler.generate("Once upon a time", SamplingParams(max_tokens=200, seed=1))
    for event in stream:
        if isinstance(event, TokenEvent):
            break
    stream.close()
    at_close = scheduler.stats.steps
    wait_idle(scheduler)
    assert scheduler.stats.steps - at_close <= 1


def test_a_full_queue_is_a_busy_error_not_a_failure(scheduler):
    wait_idle(scheduler)
    cancel = threading.Event()
    long = SamplingParams(max_tokens=400, seed=2)
    streams = []
    try:
        with pytest.raises(EngineBusyError) as info:
            for _ in range(10):  # 4 slots + 2 waiting places
                streams.append(scheduler.generate("Write a very long story.", long, cancel=cancel))
        assert len(streams) >= 2 and info.value.retry_after >= 1 and info.value.http_status == 429
    finally:
        cancel.set()
        for s in streams:
            s.close()
    wait_idle(scheduler)


def test_busy_is_never_a_reason_to_escalate(scheduler, tmp_path):
    from assistant.assistant import Assistant, ChatRequest
    from tests.escalation.cloud_server import FakeCloud

    cloud = FakeCloud().start()
    settings = load_settings(model=str(scheduler.engine.info.path), home=tmp_path,
                             cloud={"base_url": cloud.url, "model": "big", "deadline_s": 5.0},
                             escalation={"threshold": 0.0, "complete_threshold": 0.0})  # any local answer escalates
    assistant = Assistant(scheduler, settings)
    assert assistant.escalator.active
    cancel = threading.Event()
    streams = []
    try:
        with pytest.raises(EngineBusyError):  # fill the slots and the queue
            for _ in range(10):
                streams.append(scheduler.generate("Write a very long story.", SamplingParams(max_tokens=400),
                                                  cancel=cancel))
        with pytest.raises(EngineBusyError):
            list(assistant.stream(ChatRequest(messages=[ChatMessage("user", "Hello?")])))
        assert cloud.received == []
    finally:
        cancel.set()
        for s in streams:
            s.close()
        assistant.close()
        cloud.stop()
    wait_idle(scheduler)


def test_the_core_refuses_what_the_backend_cannot_do():
    from assistant.engine.protocol import Capabilities
    from assistant.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError) as info:
        Capabilities(grammar=False).check(SamplingParams(grammar='root ::= "a"'))
    assert info.value.param == "grammar"
    with pytest.raises(InvalidRequestError):
        Capabilities(logprobs=False).check(SamplingParams(top_logprobs=2))
    Capabilities(grammar=True).check(SamplingParams(grammar='root ::= "a"', top_logprobs=2))


def test_a_call_runs_on_the_loop_thread_between_steps(scheduler):
    """`Scheduler.call` (embeddings' way to the model) runs while sequences decode, never beside a step."""
    wait_idle(scheduler)
    cancel = threading.Event()
    stream = scheduler.generate("Write a long story about a lighthouse.", SamplingParams(max_tokens=64, seed=1),
                                cancel=cancel)
    try:
        next(stream)  # decoding has begun
        seen = []
        steps = scheduler.stats.steps
        assert scheduler.call(lambda: seen.append(threading.current_thread().name) or 42) == 42
        assert seen == ["hearth-scheduler"] and scheduler.stats.steps > steps  # it waited for a step to end
        with pytest.raises(ZeroDivisionError):
            scheduler.call(lambda: 1 / 0)
        assert [e for e in stream if isinstance(e, Finish)][0].reason in ("length", "stop")
    finally:
        cancel.set()
        stream.close()
    wait_idle(scheduler)


def test_a_backend_without_logprobs_is_served_locally_not_refused(scheduler, tmp_path):
    """Confidence needs log-probabilities; where the backend has none, the Assistant serves locally instead of
    asking the backend for logprobs the user never requested (which the capability check would refuse)."""
    from assistant.assistant import Assistant, ChatRequest
    from assistant.engine.events import RouteDecision
    from assistant.engine.protocol import Capabilities
    from tests.escalation.cloud_server import FakeCloud

    cloud = FakeCloud().start()
    settings = load_settings(model=str(scheduler.engine.info.path), home=tmp_path,
                             cloud={"base_url": cloud.url, "model": "big", "deadline_s": 5.0},
                             escalation={"threshold": 0.0, "complete_threshold": 0.0})
    assistant = Assistant(scheduler, settings)
    scheduler.engine.capabilities = Capabilities(logprobs=False, grammar=True)
    try:
        events = list(assistant.stream(ChatRequest(messages=[ChatMessage("user", "Hello?")],
                                                   params=SamplingParams(max_tokens=4))))
        decision = next(e for e in events if isinstance(e, RouteDecision))
        assert decision.route == "local" and isinstance(events[-1], Finish) and cloud.received == []
        assert not any(isinstance(e, TokenEvent) and e.top for e in events)
    finally:
        del scheduler.engine.capabilities  # back to the class's
        cloud.stop()
    wait_idle(scheduler)


def test_without_a_prefix_cache_slots_go_least_recently_used(scheduler):
    """A backend that does not declare `prefix_cache` gets no slot matching by prefix: the same prompt again goes
    to the least recently used slot, not back to the one that holds it (where it goes with a prefix cache)."""
    from assistant.engine.protocol import Capabilities

    wait_idle(scheduler)
    prompt, params = [ChatMessage("user", "Name a colour.")], SamplingParams(max_tokens=2, seed=1)

    def slot_of_next_request() -> int:
        before = [s.requests for s in scheduler.stats.slots]
        collect(scheduler.generate(prompt, params))
        wait_idle(scheduler)
        [slot] = [i for i, s in enumerate(scheduler.stats.slots) if s.requests > before[i]]
        return slot

    holder = slot_of_next_request()
    assert slot_of_next_request() == holder  # with the prefix cache: back to the slot that holds the prompt
    scheduler.engine.capabilities = Capabilities(logprobs=True, grammar=True, prefix_cache=False)
    try:
        assert slot_of_next_request() != holder
    finally:
        del scheduler.engine.capabilities
    wait_idle(scheduler)
