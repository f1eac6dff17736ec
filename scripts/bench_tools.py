"""Benchmark tool calling on smart-home requests phrased the way people talk (not like the voice command grammar):
% of answers that are valid calls (parse and validate against the tool's schema; the goal is 100%), % that call
the right tool, and % exactly right (right tool and arguments), per `tool_choice` mode.

    python3 scripts/bench_tools.py [--model smollm2-135m-instruct] [--choice required auto] [--threads 2]
        [--cloud] [--out bench-results/bench_tools.json]

Greedy decoding on the real model through the Assistant (escalation off). Prints a table and writes JSON (with
every request's call). Accuracy does not depend on machine load; no timings are reported.

`--cloud` adds a second run with escalation on (the shipped calibration and `escalation.target_rate`) against a
loopback cloud that always answers with the expected call (an oracle, the anchor of "a cloud that is right"):
% escalated, % exactly right overall, and the local run's exact rate among the requests the score sent away
against those it kept (a score that knows when the model is wrong sends away the wrong ones).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jsonschema

from assistant.assistant import ChatRequest
from assistant.engine.events import ChatMessage
from assistant.engine.sampling import SamplingParams
from assistant.runtime import build_assistant
from assistant.settings import DEFAULT_MODEL, load_settings
from assistant.tools import Tool, ToolSpec

DEVICES = ["kitchen light", "living room light", "bedroom light", "hall light", "desk lamp", "tv", "fan",
           "coffee machine"]
ROOMS = ["kitchen", "living room", "bedroom", "bathroom", "office"]
_DEVICE = {"type": "object", "properties": {"device": {"type": "string", "enum": DEVICES}}, "required": ["device"]}
TOOLS = (
    Tool("turn_on", "Switch a device on.", _DEVICE),
    Tool("turn_off", "Switch a device off.", _DEVICE),
    Tool("set_brightness", "Set a light's brightness in percent (0-100).", {
        "type": "object", "properties": {"device": {"type": "string", "enum": DEVICES[:5]},
                                         "percent": {"type": "integer"}}, "required": ["device", "percent"]}),
    Tool("set_temperature", "Set a room's thermostat in degrees Celsius.", {
        "type": "object", "properties": {"room": {"type": "string", "enum": ROOMS}, "celsius": {"type": "number"}},
        "required": ["room", "celsius"]}),
    Tool("get_state", "Tell whether a device is on, and its level.", _DEVICE),
)


def on(d: str) -> tuple[str, dict]:
    return "turn_on", {"device": d}


def off(d: str) -> tuple[str, dict]:
    return "turn_off", {"device": d}


def dim(d: str, p: int) -> tuple[str, dict]:
    return "set_brightness", {"device": d, "percent": p}


def heat(r: str, c: float) -> tuple[str, dict]:
    return "set_temperature", {"room": r, "celsius": c}


def ask(d: str) -> tuple[str, dict]:
    return "get_state", {"device": d}


CASES = [
    ("It's pitch black in the kitchen, can you do something?", on("kitchen light")),
    ("I'm off to bed, the living room light can go.", off("living room light")),
    ("Could you get the coffee going?", on("coffee machine")),
    ("The bedroom light is blinding me, bring it down to 20 percent.", dim("bedroom light", 20)),
    ("I'm freezing in the bathroom, make it 24 degrees in there.", heat("bathroom", 24)),
    ("Did I leave the tv on?", ask("tv")),
    ("Kill the fan, it's too noisy.", off("fan")),
    ("I need some air, start the fan.", on("fan")),
    ("Make the office a cosy 21 degrees.", heat("office", 21)),
    ("Is the hall light still burning?", ask("hall light")),
    ("Put the desk lamp at half brightness.", dim("desk lamp", 50)),
    ("Nobody's watching the tv, shut it.", off("tv")),
    ("Let there be light in the hall.", on("hall light")),
    ("The kitchen light can go off now, thanks.", off("kitchen light")),
    ("Warm the living room up to 22 please.", heat("living room", 22)),
    ("Is the coffee machine running?", ask("coffee machine")),
    ("I want to watch something, switch on the telly... I mean the tv.", on("tv")),
    ("Dim the living room light to 30 percent for the movie.", dim("living room light", 30)),
    ("The bedroom is too hot, set it to 18 degrees.", heat("bedroom", 18)),
    ("Can you check whether the fan is on?", ask("fan")),
    ("I'm done with coffee, turn that machine off.", off("coffee machine")),
    ("Reading time: the desk lamp, please.", on("desk lamp")),
    ("Hall light off, we're going out.", off("hall light")),
    ("Max out the kitchen light, 100 percent.", dim("kitchen light", 100)),
    ("The kitchen feels chilly, 23 degrees would be nice.", heat("kitchen", 23)),
    ("What's the state of the bedroom light?", ask("bedroom light")),
    ("Bedroom light on, I can't find my socks.", on("bedroom light")),
    ("Switch the desk lamp off, I'm finished working.", off("desk lamp")),
    ("Make the hall light really faint, like 10 percent.", dim("hall light", 10)),
    ("Office heating to 19 degrees, I'm leaving soon.", heat("office", 19)),
    ("Is the kitchen light on or off?", ask("kitchen light")),
    ("Too dark to read in the living room, turn the light on.", on("living room light")),
    ("I'm going to sleep, bedroom light off.", off("bedroom light")),
    ("Set the bedroom light to 75 percent.", dim("bedroom light", 75)),
    ("Bathroom at 26 degrees for my bath please.", heat("bathroom", 26)),
    ("Tell me if the desk lamp is on.", ask("desk lamp")),
    ("Fan off please, I'm getting cold.", off("fan")),
    ("Start the telly, the match is on.", on("tv")),
    ("Desk lamp at 40 percent, my eyes hurt.", dim("desk lamp", 40)),
    ("Cool the living room down to 20 degrees.", heat("living room", 20)),
    ("Has the living room light been left on?", ask("living room light")),
    ("Morning! Coffee machine on, please.", on("coffee machine")),
]


def score(spec: ToolSpec, reply, expected) -> dict:
    calls = reply.tool_calls
    row = {"calls": [{"name": c.name, "arguments": json.loads(c.arguments)} for c in calls],
           "text": reply.text if not calls else None, "valid": bool(calls), "tool_right": False, "exact": False}
    for c in calls:
        try:
            jsonschema.validate(json.loads(c.arguments), spec.tool(c.name).parameters)
        except (jsonschema.ValidationError, ValueError, AttributeError):
            row["valid"] = False
    if calls:
        first = row["calls"][0]
        row["tool_right"] = first["name"] == expected[0]
        row["exact"] = len(calls) == 1 and row["tool_right"] and first["arguments"] == expected[1]
    return row


def run(assistant, choice: str) -> dict:
    spec = ToolSpec(TOOLS, choice, parallel=False)  # type: ignore[arg-type]
    params = SamplingParams(temperature=0.0, max_tokens=96)
    rows = []
    for text, expected in CASES:
        reply = assistant.complete(ChatRequest(messages=[ChatMessage("user", text)], params=params, tools=spec))
        rows.append({"request": text, "expected": {"name": expected[0], "arguments": expected[1]},
                     "route": reply.decision.route, **score(spec, reply, expected)})
    n = len(rows)
    called = [r for r in rows if r["calls"]]
    return {"choice": choice, "requests": n, "called_pct": 100 * len(called) / n,
            "valid_pct_of_calls": 100 * sum(r["valid"] for r in called) / len(called) if called else None,
            "tool_right_pct": 100 * sum(r["tool_right"] for r in rows) / n,
            "exact_pct": 100 * sum(r["exact"] for r in rows) / n, "rows": rows}


class OracleCloud:
    """An OpenAI-compatible endpoint on a loopback port that streams the expected call of each of CASES' requests
    (found by the conversation's last user message) in `delta.tool_calls` chunks."""

    def __init__(self) -> None:
        answers = {text: expected for text, expected in CASES}

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                user = [m["content"] for m in body["messages"] if m["role"] == "user"][-1]
                name, arguments = answers[user]
                call = {"index": 0, "id": "call_oracle", "type": "function",
                        "function": {"name": name, "arguments": json.dumps(arguments)}}
                events = [{"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [call]}}]},
                          {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}]
                payload = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
                payload += b"data: [DONE]\n\n"
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def escalated(settings, engine, local: dict, choice: str) -> dict:
    """The run with escalation on against the oracle cloud, compared with the local run `local`."""
    oracle = OracleCloud()
    try:
        cloudy = settings.model_copy(update={
            "cloud": settings.cloud.model_copy(update={"base_url": oracle.url, "model": "oracle"}),
            "escalation": settings.escalation.model_copy(update={"enabled": True, "audit": False})})
        assistant = build_assistant(cloudy, engine)
        result = run(assistant, choice)
        assistant.close()
    finally:
        oracle.close()
    sent = [lo["exact"] for lo, r in zip(local["rows"], result["rows"]) if r["route"] == "cloud"]
    kept = [lo["exact"] for lo, r in zip(local["rows"], result["rows"]) if r["route"] != "cloud"]
    return {**result, "escalated_pct": 100 * len(sent) / len(result["rows"]),
            "local_exact_pct_of_escalated": 100 * sum(sent) / len(sent) if sent else None,
            "local_exact_pct_of_kept": 100 * sum(kept) / len(kept) if kept else None}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--choice", nargs="+", default=["required", "auto"], choices=["required", "auto"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cloud", action="store_true", help="also run with escalation to a loopback oracle cloud")
    ap.add_argument("--out", type=Path, default=Path("bench-results/bench_tools.json"))
    args = ap.parse_args()
    settings = load_settings(model=args.model, engine={"n_threads": args.threads, "n_ctx": 2048},
                             escalation={"enabled": False})
    assistant = build_assistant(settings)
    results = [run(assistant, choice) for choice in args.choice]
    clouds = [escalated(settings, assistant.scheduler, r, r["choice"]) for r in results] if args.cloud else []
    print(f"model {assistant.model_info.id}, {len(CASES)} requests, greedy")
    print(f"{'tool_choice':<12}{'called %':>10}{'valid % of calls':>18}{'right tool %':>14}{'exact %':>9}")
    for r in results:
        print(f"{r['choice']:<12}{r['called_pct']:>10.1f}{_pct(r['valid_pct_of_calls']):>18}{r['tool_right_pct']:>14.1f}"
              f"{r['exact_pct']:>9.1f}")
    if clouds:
        print(f"with escalation to an oracle cloud (target rate {settings.escalation.target_rate:g}):")
        print(f"{'tool_choice':<12}{'escalated %':>12}{'exact %':>9}{'local exact % of escalated':>28}"
              f"{'of kept':>9}")
        for r in clouds:
            print(f"{r['choice']:<12}{r['escalated_pct']:>12.1f}{r['exact_pct']:>9.1f}"
                  f"{_pct(r['local_exact_pct_of_escalated']):>28}{_pct(r['local_exact_pct_of_kept']):>9}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"model": assistant.model_info.id, "results": results, "cloud": clouds},
                                   indent=2) + "\n")
    print(f"wrote {args.out}")
    assistant.close()
    assistant.engine.close()


if __name__ == "__main__":
    main()
