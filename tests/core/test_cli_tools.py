"""`hearth chat --tools FILE.json`: calls are shown (and are in `--json` output), bad tool files are one line."""

from __future__ import annotations

import json

import jsonschema

from .test_cli import hearth, home  # noqa: F401  (the module-scoped store fixture)

TOOLS = [{"type": "function", "function": {
    "name": "set_light", "description": "Turn a room's light on or off.",
    "parameters": {"type": "object", "properties": {"room": {"type": "string", "enum": ["kitchen", "bedroom"]},
                                                    "on": {"type": "boolean"}}, "required": ["room", "on"]}}}]


def test_tool_calls_are_shown_and_in_json(home, tmp_path):  # noqa: F811
    path = tmp_path / "tools.json"
    path.write_text(json.dumps(TOOLS))
    args = ["chat", "-p", "Kitchen light on please", "--tools", str(path), "--tool-choice", "required",
            "--max-tokens", "48", "--seed", "2"]
    res = hearth(*args, "--json", home=home)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    [call] = out["tool_calls"]
    assert out["finish_reason"] == "tool_calls"  # as the server says it
    assert call["name"] == "set_light" and call["id"].startswith("call_")
    jsonschema.validate(call["arguments"], TOOLS[0]["function"]["parameters"])
    shown = hearth(*args, home=home)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.decode().startswith("→ set_light({")


def test_bad_tool_files_are_one_line(home, tmp_path):  # noqa: F811
    cases = {"missing.json": None, "notjson.json": "{", "unenforceable.json": json.dumps([{"type": "function",
             "function": {"name": "f", "parameters": {"type": "object", "properties": {"n": {"minimum": 3}}}}}]),
             "empty.json": "[]", "notfunction.json": json.dumps([{"type": "retrieval", "name": "f"}])}
    for name, text in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        res = hearth("chat", "-p", "hi", "--tools", str(path), home=home)
        assert res.returncode != 0 and b"Traceback" not in res.stderr, res.stderr
        assert b"--tools" in res.stderr or b"minimum" in res.stderr, res.stderr
        assert b"tool_choice" not in res.stderr, res.stderr  # none was given: the fault is the file's
