"""The quantizer's device-fit table is the planner's: the same verdicts, the budgets of the device profiles."""

from __future__ import annotations

import pytest

from assistant.catalog import load_catalog
from assistant.devices import load_profiles
from assistant.planner import PlanRequest, plan, shape_from_catalog
from assistant.planner.fit import MANIFEST_CONTEXTS, MANIFEST_DEVICES, device_fit, device_rows, markdown


def test_rows_are_the_planners_verdicts_on_the_profiles() -> None:
    shape = shape_from_catalog(load_catalog().get("llama-3.1-8b-instruct"))
    profiles = load_profiles()
    rows = device_rows(shape)
    assert [r["profile"] for r in rows] == list(MANIFEST_DEVICES)
    for row in rows:
        profile = profiles[row["profile"]]
        assert row["device"] == profile.name and set(row["contexts"]) == {str(c) for c in MANIFEST_CONTEXTS}
        for ctx, cell in row["contexts"].items():
            p = plan(shape, profile, PlanRequest(n_ctx=int(ctx)))
            assert cell["fits"] == p.fits and cell["budget_bytes"] == profile.budget_bytes
            assert cell["need_bytes"] == p.device_bytes + p.host_bytes and cell["kv_bytes"] == p.kv_bytes
    nano = rows[0]["contexts"]
    # 4.9 GB of weights: 2k fits an 8 GB Orin, 8k of f16 KV cache does not (README's table says so too).
    assert nano["2048"]["fits"] and not nano["8192"]["fits"]
    assert all(cell["fits"] for cell in rows[-1]["contexts"].values())  # the L4's 24 GB


def test_unknown_profile_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        device_rows(shape_from_catalog(load_catalog().get("qwen2.5-7b-instruct")), devices=("no-such-device",))


def test_manifest_table_of_a_real_file(default_model_path) -> None:
    rows = device_fit(default_model_path)
    assert all(cell["fits"] for row in rows for cell in row["contexts"].values())  # 135M parameters fit anywhere
    assert {r["estimator"] for r in rows} == {"assistant.planner"}


def test_readme_table_has_a_row_per_device_and_a_column_per_model() -> None:
    lines = markdown().splitlines()
    assert lines[0].count("|") == 5 and len(lines) == 2 + 6
    assert "no, max 5120" in lines[2]  # Llama-3.1-8B at 8k on the 8 GB Orin Nano
