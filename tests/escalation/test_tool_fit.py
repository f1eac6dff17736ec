"""The tool-call calibration: its graded set, its grading, the fit on real calls of the default model, and the
router scoring calls with it when a calibration directory has one."""

from __future__ import annotations

import json
import os
import shutil

import jsonschema
import pytest

from assistant.engine.events import ToolCall
from assistant.errors import InvalidRequestError
from assistant.escalation import tool_fit as T
from assistant.escalation.defaults import CALIBRATION_DIR, FILES, TOOLS_FILE, calibration_file
from assistant.escalation.scoring import Calibration
from assistant.escalation.signals import SIGNALS
from assistant.tools import ToolSpec

from .test_tool_escalation import LIGHT, ask

# Calls collected for the fit test (76: a third of six templates); CI's second interpreter takes fewer.
FIT_CALLS = int(os.environ.get("HEARTH_TOOL_FIT_CALLS", "76"))


def _call(name: str, arguments: dict | str) -> ToolCall:
    return ToolCall("call_0", name, arguments if isinstance(arguments, str) else json.dumps(arguments))


def test_every_expected_call_is_valid_and_the_split_goes_by_template() -> None:
    cases = T.load_tool_set()
    assert len(cases) >= 400 and {c.spec.tools[0].name for c in cases} == {"set_power", "turn_on"}
    for case in cases:
        jsonschema.validate(case.arguments, case.spec.tool(case.name).parameters)
    templates: dict[tuple[str, int], set[str]] = {}
    for case in cases:
        templates.setdefault((case.intent, case.template), set()).add(case.split)
    assert all(len(splits) == 1 for splits in templates.values())
    assert {c.split for c in cases} == {"train", "validation", "test"}


def test_a_call_is_right_only_when_it_is_exactly_the_one_expected() -> None:
    case = next(c for c in T.load_tool_set() if c.intent == "brightness" and c.name == "set_brightness")
    value = case.arguments["percent"]
    assert T.is_right([_call(case.name, case.arguments)], case)
    assert T.is_right([_call(case.name, {**case.arguments, "percent": float(value)})], case)
    assert not T.is_right([_call(case.name, {**case.arguments, "percent": value + 1})], case)
    assert not T.is_right([_call("get_state", case.arguments)], case)
    assert not T.is_right([_call(case.name, case.arguments)] * 2, case)
    assert not T.is_right([_call(case.name, "{not json")], case)
    assert not T.is_right([], case)


@pytest.mark.slow
def test_the_fit_on_real_calls_writes_a_calibration_the_router_loads(make_assistant, tmp_path) -> None:
    cases = [c for c in T.load_tool_set() if c.template in (0, 3, 4, 5, 8, 9)]  # train, validation, test
    samples = T.collect(make_assistant(escalation={"enabled": False}), cases[::max(1, len(cases) // FIT_CALLS)], 1)
    assert all(s.tokens and json.loads(s.text) for s in samples)
    by_id = {c.id: c for c in cases}
    assert all(s.wrong == int(not T.is_right([ToolCall("c", **d) for d in json.loads(s.text)], by_id[s.qid]))
               for s in samples)
    try:
        report, cal = T.fit(samples, cases, 0.3, "test-model")
    except InvalidRequestError as exc:  # a split of this small run without two right calls
        assert "a fit needs at least two of each" in exc.message
        return
    assert cal.features == SIGNALS and cal.meta["mode"] == "tools" and 0.0 <= report["test"]["auroc"][0] <= 1.0
    # Into this test's own directory: `calibration_file` falls back to the shipped file while the directory has
    # none, and writing there would ship this fit (and change every later test's routing).
    path = tmp_path / TOOLS_FILE
    path.write_text(cal.to_json())
    assert calibration_file("tools", tmp_path) == path and Calibration.load(path) == cal


def test_tool_requests_are_scored_with_the_directorys_tool_calibration(make_assistant, cloud, tmp_path) -> None:
    for name in ("stream", "complete"):
        shutil.copy(CALIBRATION_DIR / FILES[name], tmp_path / FILES[name])
    assert calibration_file("tools", tmp_path) == CALIBRATION_DIR / TOOLS_FILE  # the shipped one, if any
    sure_wrong = Calibration(SIGNALS, (0.0,) * len(SIGNALS), (1.0,) * len(SIGNALS), (0.0,) * len(SIGNALS), 8.0,
                             0.75, T.WINDOW, {"mode": "tools"})
    (tmp_path / TOOLS_FILE).write_text(sure_wrong.to_json())
    assistant = make_assistant(escalation={"calibration_dir": str(tmp_path)})
    reply = assistant.complete(ask("Kitchen light on", ToolSpec((LIGHT,), "required", parallel=False)))
    assert reply.decision.route == "cloud" and reply.decision.signals["threshold"] == pytest.approx(0.75)
    assert reply.decision.signals["score"] > 0.99 and reply.tool_calls
