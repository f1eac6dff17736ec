"""`hearth chat`: an interactive REPL, or a one-shot answer for scripts (`-p`)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..assistant import Assistant, ChatRequest, Reply
from ..encodable import require_encodable
from ..engine.events import Finish, RouteDecision, TextDelta, TokenEvent, ToolCall
from ..runtime import build_assistant, open_store, shutdown
from ..session import Session
from ..settings import Settings
from ..tools import ToolSpec
from .chat_repl import Repl, note_route
from .chat_tools import call_json, call_text, load_tools
from .common import cli_errors, err, print_json
from .models import pull_with_progress
from .options import settings_command


def ensure_default_model(settings: Settings) -> None:
    """First use of the default model pulls it (with a progress bar) instead of failing."""
    store = open_store(settings)
    if settings.model == store.catalog.default and store.get(settings.model) is None:
        err.print(f"first run: downloading the default model {settings.model} …")
        pull_with_progress(settings, settings.model)


def read_prompt(prompt: str) -> str:
    """`-p -` reads the prompt from stdin, strictly as UTF-8 (bad bytes are reported, not guessed at)."""
    if prompt != "-":
        return prompt
    return sys.stdin.buffer.read().decode("utf-8")


def one_shot(assistant: Assistant, settings: Settings, text: str, system: str | None, as_json: bool,
             tools: ToolSpec | None = None) -> None:
    session = Session(system=system)
    request = ChatRequest(messages=session.messages(text), params=settings.sampling, tools=tools)
    if as_json:
        print_json(reply_json(assistant.complete(request), assistant))
        return
    for event in assistant.stream(request):
        if isinstance(event, RouteDecision):
            note_route(event)
        elif isinstance(event, TextDelta):
            sys.stdout.write(event.text)
            sys.stdout.flush()
        elif isinstance(event, ToolCall):
            sys.stdout.write(call_text(event) + "\n")
        elif isinstance(event, Finish):
            sys.stdout.write("\n")


def logprob_summary(tokens: list[TokenEvent]) -> dict:
    if not tokens:
        return {"n": 0, "mean": None, "min": None, "mean_entropy": None}
    lps = [t.logprob for t in tokens]
    ents = [t.entropy for t in tokens if t.entropy is not None]
    return {"n": len(lps), "mean": sum(lps) / len(lps), "min": min(lps),
            "mean_entropy": sum(ents) / len(ents) if ents else None}


def reply_json(reply: Reply, assistant: Assistant) -> dict:
    usage, timings = reply.finish.usage, reply.finish.timings
    # As the server says it: an answer that stopped after its calls finished because of them.
    reason = "tool_calls" if reply.tool_calls and reply.finish.reason == "stop" else reply.finish.reason
    return {
        "text": reply.text, "model": assistant.model_info.id, "finish_reason": reason,
        "route": reply.decision.route, "route_reasons": list(reply.decision.reasons),
        "usage": {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                  "total_tokens": usage.total_tokens, "cached_tokens": usage.cached_tokens},
        "timings": {"ttft_s": timings.ttft_s, "prefill_s": timings.prefill_s, "decode_s": timings.decode_s,
                    "decode_tok_s": timings.decode_tok_s(usage.completion_tokens)},
        "logprobs": logprob_summary(reply.tokens),
        "tool_calls": [call_json(c) for c in reply.tool_calls],
    }


def register(app: typer.Typer) -> None:
    @app.command()
    @cli_errors
    @settings_command("model", "privacy", "log_prompts", "engine", "sampling", "cloud", "escalation")
    def chat(prompt: Annotated[str | None, typer.Option("-p", "--prompt", help="Ask one question and exit "
                                                           "(`-` reads it from stdin).")] = None,
             system: Annotated[str | None, typer.Option("--system", help="System prompt.")] = None,
             as_json: Annotated[bool, typer.Option("--json", help="With -p: print one JSON object (text, usage, "
                                                   "timings, logprobs, tool_calls).")] = False,
             tools_file: Annotated[str | None, typer.Option("--tools", help="A JSON file of tools the model may "
                                                            "call (OpenAI's `tools` list); calls are shown, not "
                                                            "run.")] = None,
             tool_choice: Annotated[str, typer.Option("--tool-choice", help="With --tools: auto, none, required "
                                                      "or a tool's name.")] = "auto",
             *, settings: Settings) -> None:
        """Chat with the local model (pulls the default model on first use)."""
        text = read_prompt(prompt) if prompt is not None else None
        # Undecodable bytes in argv arrive as lone surrogates (PEP 383): refuse them before loading anything.
        require_encodable(text, "--prompt")
        require_encodable(system, "--system")
        tools = load_tools(tools_file, tool_choice) if tools_file is not None else None
        ensure_default_model(settings)
        assistant = build_assistant(settings)
        try:
            if text is not None:
                one_shot(assistant, settings, text, system, as_json, tools)
                return
            Repl(assistant, settings, Session(system=system, policy=settings.engine.context_policy,
                                              reserve_tokens=settings.engine.reserve_tokens), tools).run()
        finally:
            shutdown(assistant)

