"""From a transcript to spoken sentences: the local intent fast path first, otherwise the Assistant, whose reply
is cut into sentences while it is still being generated."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from ..assistant import Assistant, ChatRequest
from ..engine.events import ChatMessage, Finish, TextDelta
from ..engine.sampling import SamplingParams
from ..errors import HearthError, HomeControlError
from ..settings import VoiceSettings
from .executors import IntentExecutor, IntentResult
from .intents import Intent, IntentRecognizer
from .sentences import SentenceChunker

_DONE = object()
APOLOGY = "Sorry, I can't answer that right now."


@dataclass
class Response:
    """What the assistant says back to one transcript. Iterate `sentences()` once to drive it."""

    source: Literal["intent", "assistant", "none"]
    """Who answered: the local intent path, the Assistant (LLM), or nobody (empty transcript)."""
    intent: Intent | None = None
    """The recognised intent, if any."""
    result: IntentResult | None = None
    """The executor's outcome for the intent."""
    error: str | None = None
    """A failure that was turned into an apology (home backend down, model missing, deadline)."""
    spoken: list[str] = field(default_factory=list)
    """Sentences produced so far."""
    first_text_wall: float | None = None
    """`perf_counter()` when the first reply text existed (first LLM token, or the intent's answer)."""
    finish_reason: str | None = None
    """The LLM's finish reason (`stop`, `length`, `cancelled`), for assistant answers."""
    generated_wall: float | None = None
    """`perf_counter()` when the LLM finished generating (speech of the first sentences starts before it)."""
    _pieces: Iterator[str] | None = None

    def sentences(self) -> Iterator[str]:
        for piece in self._pieces or iter(()):
            self.spoken.append(piece)
            yield piece

    @property
    def text(self) -> str:
        return " ".join(self.spoken)


class Responder:
    """Answers transcripts. Thread-safe: generations are serialised (the engine is not thread-safe)."""

    def __init__(self, recognizer: IntentRecognizer, executor: IntentExecutor,
                 assistant: Callable[[], Assistant] | None, settings: VoiceSettings, sampling: SamplingParams) -> None:
        self.recognizer, self.executor, self.settings = recognizer, executor, settings
        self._assistant = assistant
        self.params = sampling.model_copy(update={"max_tokens": settings.max_tokens})
        self._lock = threading.Lock()

    def respond(self, text: str) -> Response:
        text = text.strip()
        if not text:
            return Response(source="none")
        intent = self.recognizer.recognize(text)
        if intent is not None:
            return self._run_intent(intent)
        return self._ask(text)

    def _run_intent(self, intent: Intent) -> Response:
        try:
            result = self.executor.execute(intent)
            error = None
        except HomeControlError as exc:
            result, error = IntentResult(False, "Sorry, I couldn't reach the home controller."), exc.message
        return Response(source="intent", intent=intent, result=result, error=error,
                        first_text_wall=time.perf_counter(), _pieces=iter([result.speech]))

    def _ask(self, text: str) -> Response:
        response = Response(source="assistant")
        response._pieces = self._stream(text, response)
        return response

    def _stream(self, text: str, response: Response) -> Iterator[str]:
        """Sentences of the Assistant's reply; generation runs in a worker thread so speaking can overlap it."""
        out: queue.Queue = queue.Queue()
        cancel = threading.Event()
        worker = threading.Thread(target=self._generate, args=(text, out, cancel, response), daemon=True,
                                  name="hearth-voice-llm")
        worker.start()
        deadline = time.monotonic() + self.settings.reply_timeout_s
        try:
            while True:
                try:
                    item = out.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    cancel.set()
                    response.error = f"the reply took longer than {self.settings.reply_timeout_s:g} s"
                    response.finish_reason = "cancelled"
                    if not response.spoken:
                        yield APOLOGY
                    return
                if item is _DONE:
                    return
                if isinstance(item, HearthError):
                    response.error = item.message
                    if not response.spoken:
                        yield APOLOGY
                    return
                yield item
        finally:
            cancel.set()  # the consumer stopped early or the deadline passed: stop generating

    def _generate(self, text: str, out: queue.Queue, cancel: threading.Event, response: Response) -> None:
        try:
            if self._assistant is None:
                raise HearthError("no assistant model is configured for questions")
            assistant = self._assistant()
            messages = [ChatMessage("system", self.settings.system_prompt), ChatMessage("user", text)]
            chunker = SentenceChunker()
            with self._lock:
                for event in assistant.stream(ChatRequest(messages=messages, params=self.params, cancel=cancel)):
                    if isinstance(event, TextDelta) and event.text:
                        if response.first_text_wall is None:
                            response.first_text_wall = time.perf_counter()
                        for sentence in chunker.push(event.text):
                            out.put(sentence)
                    elif isinstance(event, Finish):
                        response.finish_reason = event.reason
            response.generated_wall = time.perf_counter()
            for sentence in chunker.flush():
                out.put(sentence)
        except HearthError as exc:
            out.put(exc)
        except Exception as exc:  # noqa: BLE001 -- a worker thread must always report back, or the consumer waits to its deadline
            out.put(HearthError(f"the assistant failed: {exc.__class__.__name__}: {exc}"))
        finally:
            out.put(_DONE)


def warm_up(assistant: Assistant, settings: VoiceSettings, sampling: SamplingParams,
            cancel: threading.Event | None = None) -> Assistant:
    """Run the voice system prompt through the model once, so the first question reuses its cached prefix."""
    messages = [ChatMessage("system", settings.system_prompt), ChatMessage("user", "Hello.")]
    assistant.complete(ChatRequest(messages=messages, params=sampling.model_copy(update={"max_tokens": 1}),
                                   cancel=cancel))
    return assistant
