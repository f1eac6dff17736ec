"""The interactive loop of `hearth chat`: streamed replies, slash commands, Ctrl-C to interrupt a reply, line
editing and history in a terminal, conversations saved to and loaded from JSON files."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from rich.markup import escape

from ..assistant import Assistant, ChatRequest
from ..encodable import encodable
from ..engine.events import Finish, RouteDecision, TextDelta, ToolCall
from ..errors import InvalidRequestError
from ..session import Session
from ..settings import Settings
from ..tools import ToolSpec
from ..tools.prompt import call_line
from .chat_input import LineReader, read_conversation, save_conversation
from .chat_tools import call_text
from .common import err, out

HELP = """commands:
  /reset          forget the conversation
  /system TEXT    set the system prompt (and reset)
  /stats          timings and context use of the last reply
  /cloud          send the next message to the cloud model
  /save FILE      save the conversation (system prompt and turns) as JSON
  /load FILE      continue a conversation saved with /save
  /help           this text
  end a line with \\ to continue on the next line; Ctrl-C stops a reply; Ctrl-D leaves
  in a terminal: arrow keys and Emacs keys edit the line, Up/Down and Ctrl-R search earlier lines"""


def note_route(decision: RouteDecision) -> None:
    """Tell the user (on stderr) when an answer is not a plain local one."""
    if decision.route != "local":
        why = ", ".join(decision.reasons) or "no reason given"
        err.print(f"[dim]\\[{decision.route}: {why}][/dim]")
    budget = decision.budget
    if budget is not None and budget.truncated:
        err.print(f"[dim]\\[dropped {len(budget.dropped)} old message(s) to fit the {budget.n_ctx}-token "
                  "context][/dim]")


@dataclass
class Stats:
    """What /stats shows about the last reply."""

    ttft_s: float = 0.0
    """Time to first token."""
    decode_tok_s: float = 0.0
    """Generation speed."""
    prompt_tokens: int = 0
    """Prompt size of the last request."""
    completion_tokens: int = 0
    """Tokens generated."""
    cached_tokens: int = 0
    """Prompt tokens served from the KV cache."""
    route: str = "-"
    """Where the last reply came from."""


class Repl:
    """One interactive conversation."""

    def __init__(self, assistant: Assistant, settings: Settings, session: Session,
                 tools: ToolSpec | None = None) -> None:
        self.assistant, self.settings, self.session = assistant, settings, session
        self.tools = tools
        self.stats = Stats()
        self.next_route = "auto"
        self.lines = LineReader(settings.home)

    def run(self) -> None:
        info = self.assistant.model_info
        err.print(f"[bold]hearth[/bold] · {info.id} ({info.quantization}, context {info.n_ctx}) · /help for "
                  "commands, Ctrl-D to leave")
        while True:
            try:
                text = self.read_message()
            except EOFError:
                err.print()
                return
            except KeyboardInterrupt:
                err.print()
                continue
            except UnicodeDecodeError as exc:
                err.print(f"[red]input is not valid UTF-8 ({exc.reason}); message ignored[/red]")
                continue
            if not encodable(text):  # undecodable bytes read with surrogateescape (UTF-8 mode, C locale)
                err.print("[red]input is not valid UTF-8; message ignored[/red]")
                continue
            if not text.strip():
                continue
            if text.startswith("/"):
                self.command(text.strip())
                continue
            self.reply(text)

    def read_message(self) -> str:
        lines = [self.lines.read(">>> ")]
        while lines[-1].endswith("\\"):
            lines[-1] = lines[-1][:-1]
            lines.append(self.lines.read("... "))
        return "\n".join(lines)

    def command(self, line: str) -> None:
        name, _, arg = line.partition(" ")
        if name == "/reset":
            self.session.reset()
            err.print("conversation reset")
        elif name == "/system":
            self.session.system = arg.strip() or None
            self.session.reset()
            err.print("system prompt set; conversation reset")
        elif name == "/stats":
            s, n_ctx = self.stats, self.assistant.n_ctx
            used = s.prompt_tokens + s.completion_tokens
            err.print(f"route {s.route} · ttft {s.ttft_s * 1000:.0f} ms · {s.decode_tok_s:.1f} tok/s · "
                      f"context {used}/{n_ctx} ({100 * used / n_ctx:.0f}%) · cached prompt tokens {s.cached_tokens}")
        elif name == "/cloud":
            self.next_route = "cloud"
            err.print("the next message goes to the cloud model")
        elif name in ("/save", "/load"):
            self.save_or_load(name, arg.strip())
        elif name == "/help":
            err.print(HELP, markup=False)
        else:
            err.print(f"unknown command {name}; /help lists them")

    def save_or_load(self, name: str, target: str) -> None:
        """`/save FILE` or `/load FILE`: one line says what happened (a bad file leaves the session as it was)."""
        try:
            if name == "/save":
                path = save_conversation(self.session.to_dict(), target)
                err.print(f"saved {len(self.session.turns)} messages to {path}", markup=False)
                return
            self.session.load_dict(read_conversation(target))
        except InvalidRequestError as exc:
            err.print(f"[red]{escape(exc.message)}[/red]")
            return
        system = "with" if self.session.system else "without"
        err.print(f"loaded {len(self.session.turns)} messages ({system} a system prompt) from {target}", markup=False)

    def reply(self, text: str) -> None:
        cancel = threading.Event()
        request = ChatRequest(messages=self.session.messages(text), params=self.settings.sampling,
                              route=self.next_route, cancel=cancel, tools=self.tools)  # type: ignore[arg-type]
        self.next_route = "auto"
        parts: list[str] = []
        events = self.assistant.stream(request)
        try:
            for event in events:
                if isinstance(event, RouteDecision):
                    note_route(event)
                    self.stats.route = event.route
                    if event.budget is not None:
                        self.session.forget(event.budget)
                elif isinstance(event, TextDelta):
                    parts.append(event.text)
                    out.out(event.text, end="", highlight=False)
                elif isinstance(event, ToolCall):  # shown, not run; kept in the history as the model wrote it
                    parts.append(("\n" if parts else "") + call_line(event))
                    out.out(call_text(event), highlight=False, markup=False)
                elif isinstance(event, Finish):
                    self.record_stats(event)
        except KeyboardInterrupt:
            cancel.set()
            events.close()  # stops generation before the next token
            err.print("\n[dim]\\[interrupted][/dim]", end="")
        out.print()
        self.session.record(text, "".join(parts))

    def record_stats(self, finish: Finish) -> None:
        u, t = finish.usage, finish.timings
        self.stats = Stats(ttft_s=t.ttft_s, decode_tok_s=t.decode_tok_s(u.completion_tokens),
                           prompt_tokens=u.prompt_tokens, completion_tokens=u.completion_tokens,
                           cached_tokens=u.cached_tokens, route=self.stats.route)
