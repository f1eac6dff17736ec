"""`hearth calibrate` end to end: a real process, the real model, a slice of the dev set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.escalation.router import Escalator
from assistant.escalation.scoring import load_calibration
from assistant.escalation.signals import SIGNALS
from assistant.settings import load_settings

DEV = Path(__file__).parent / "data" / "qa_dev.jsonl"


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEARTH_")}
    # One thread: llama.cpp's second thread stalls badly whenever the other core is busy.
    command = [
        sys.executable,
        "-m",
        "assistant.cli",
        "calibrate",
        *args,
        "--home",
        str(home),
        "--n-threads",
        "1",
        "--n-ctx",
        "512",
    ]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=240,
        cwd=Path(__file__).resolve().parents[2],
    )


@pytest.mark.slow
def test_calibrate_reports_and_writes_a_usable_calibration(
    tmp_path: Path, model_home: Path, default_model_path: Path
) -> None:
    lines = DEV.read_text().splitlines()
    data = tmp_path / "slice.jsonl"
    data.write_text("\n".join(lines[:6] + lines[-6:]) + "\n")  # facts (often right) and sums (often wrong)
    out_dir = tmp_path / "cal"
    done = run_cli(str(data), "--max-tokens", "16", "--json", "--out", str(out_dir), home=model_home)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["n"] == 12 and 0.0 < report["accuracy"] < 1.0
    assert set(report["auroc"]) == set(SIGNALS)
    assert all(0.0 <= v <= 1.0 for v in report["auroc"].values())
    assert 0.0 <= report["combined_auroc"] <= 1.0 and 0.0 < report["threshold"] < 1.0
    assert report["complete"]["window"] == 64 and "combined_auroc" in report["complete"]
    stream = load_calibration("stream", out_dir)
    assert stream.threshold == pytest.approx(report["threshold"]) and stream.window == report["window"]
    settings = load_settings(escalation={"calibration_dir": out_dir})
    assert Escalator(settings).thresholds["stream"] == pytest.approx(report["threshold"])


def test_calibrate_rejects_a_bad_dataset(tmp_path: Path, model_home: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "no answers here"}\n')
    done = run_cli(str(bad), home=model_home)
    assert done.returncode == 2
    assert "answers" in done.stderr and "Traceback" not in done.stderr
