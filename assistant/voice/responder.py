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
from ..engine.events import ChatMessage, Finish, TextDelta, ToolCall
from ..engine.sampling import SamplingParams
from ..errors import HearthError, HomeControlError
from ..settings import VoiceSettings
from ..tools.spec import ToolSpec
from .executors import IntentExecutor, IntentResult
from .home import Home
from .home_tools import about_the_home, home_tool_spec, intent_from_call, places
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
    """The recognised intent, or the one the Assistant's tool call asked for."""
    tool_call: ToolCall | None = None
    """The Assistant's call of one of the home's tools (utterances about the home the grammar could not parse)."""
    acts: bool = False
    """The utterance went to the Assistant with the home's tools: what is said is the outcome of its call (known
    once the sentences have been iterated)."""
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
    _rooms: frozenset[str] = frozenset()
    """Rooms the utterance named: a tool call may act only there (anywhere when empty)."""

    def sentences(self) -> Iterator[str]:
        for piece in self._pieces or iter(()):
            self.spoken.append(piece)
            yield piece

    @property
    def text(self) -> str:
        return " ".join(self.spoken)


class Responder:
    """Answers transcripts. Thread-safe: concurrent questions are batched by the Assistant's scheduler."""

    def __init__(self, recognizer: IntentRecognizer, executor: IntentExecutor,
                 assistant: Callable[[], Assistant] | None, settings: VoiceSettings, sampling: SamplingParams) -> None:
        self.recognizer, self.executor, self.settings = recognizer, executor, settings
        self._assistant = assistant
        self.params = sampling.model_copy(update={"max_tokens": settings.max_tokens})
        self.tools = home_tool_spec(recognizer.home) if settings.home_tools else None

    def respond(self, text: str) -> Response:
        text = text.strip()
        if not text:
            return Response(source="none")
        intent = self.recognizer.recognize(text)
        if intent is not None:
            result, error = self._execute(intent)
            return Response(source="intent", intent=intent, result=result, error=error,
                            first_text_wall=time.perf_counter(), _pieces=iter([result.speech]))
        if self.tools is None or not about_the_home(self.recognizer.home, text):
            return self._ask(text, None)
        rooms, unknown = places(self.recognizer.home, text)
        if unknown is not None:
            result = IntentResult(False, f"There is no {unknown} in this home.")
            return Response(source="assistant", acts=True, result=result, first_text_wall=time.perf_counter(),
                            _pieces=iter([result.speech]))
        response = self._ask(text, self.tools)
        response._rooms = rooms
        return response

    def _execute(self, intent: Intent) -> tuple[IntentResult, str | None]:
        try:
            return self.executor.execute(intent), None
        except HomeControlError as exc:
            return IntentResult(False, "Sorry, I couldn't reach the home controller."), exc.message

    def _ask(self, text: str, tools: ToolSpec | None) -> Response:
        response = Response(source="assistant", acts=tools is not None)
        response._pieces = self._stream(text, tools, response)
        return response

    def _stream(self, text: str, tools: ToolSpec | None, response: Response) -> Iterator[str]:
        """Sentences of the Assistant's reply; generation runs in a worker thread so speaking can overlap it."""
        out: queue.Queue = queue.Queue()
        cancel = threading.Event()
        worker = threading.Thread(target=self._generate, args=(text, tools, out, cancel, response), daemon=True,
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

    def _generate(self, text: str, tools: ToolSpec | None, out: queue.Queue, cancel: threading.Event,
                  response: Response) -> None:
        try:
            if self._assistant is None:
                raise HearthError("no assistant model is configured for questions")
            assistant = self._assistant()
            messages = [ChatMessage("system", self.settings.system_prompt), ChatMessage("user", text)]
            chunker = SentenceChunker(first_max_words=self.settings.first_chunk_words)
            request = ChatRequest(messages=messages, params=self.params, cancel=cancel, tools=tools)
            for event in assistant.stream(request):
                if isinstance(event, ToolCall) and response.tool_call is None:
                    out.put(self._act(event, response))
                elif isinstance(event, TextDelta) and event.text:
                    if response.first_text_wall is None:
                        response.first_text_wall = time.perf_counter()
                    for sentence in chunker.push(event.text):
                        out.put(sentence)
                elif isinstance(event, Finish):
                    response.finish_reason = event.reason
            response.generated_wall = time.perf_counter()
            for sentence in chunker.flush():
                out.put(sentence)
            if tools is not None and response.tool_call is None:
                raise HearthError(f"the model made no complete call of the home's tools ({response.finish_reason})")
        except HearthError as exc:
            out.put(exc)
        except Exception as exc:  # noqa: BLE001 -- a worker thread must always report back, or the consumer waits to its deadline
            out.put(HearthError(f"the assistant failed: {exc.__class__.__name__}: {exc}"))
        finally:
            out.put(_DONE)


    def _act(self, call: ToolCall, response: Response) -> str:
        """Carry out the Assistant's call as a spoken command would be; what to say back."""
        response.tool_call = call
        response.first_text_wall = time.perf_counter()
        home = self.recognizer.home
        asked = intent_from_call(home, call)
        if not isinstance(asked, IntentResult) and response._rooms and asked.room not in response._rooms:
            where = " or ".join(f"the {home.room(r).name}" for r in sorted(response._rooms))
            asked = IntentResult(False, f"I'm not sure what to do in {where}.")
        if isinstance(asked, IntentResult):
            response.result = asked
        else:
            response.intent = asked
            response.result, response.error = self._execute(asked)
        return response.result.speech


def warm_up(assistant: Assistant, settings: VoiceSettings, sampling: SamplingParams,
            cancel: threading.Event | None = None, home: Home | None = None) -> Assistant:
    """Run the voice system prompt (and, with `home`, the home's tools) through the model once, so the first
    question reuses its cached prefix."""
    messages = [ChatMessage("system", settings.system_prompt), ChatMessage("user", "Hello.")]
    params = sampling.model_copy(update={"max_tokens": 1})
    assistant.complete(ChatRequest(messages=messages, params=params, cancel=cancel))
    if home is not None and settings.home_tools:  # the tools' prompt is a prefix of its own
        assistant.complete(ChatRequest(messages=messages, params=params, cancel=cancel, tools=home_tool_spec(home)))
    return assistant
