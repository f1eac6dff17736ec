"""Grading free-text answers, the held-out metrics, and the shipped graded question set."""

from __future__ import annotations

import importlib.util
import itertools
import json
import subprocess
import sys
from collections import Counter
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from assistant.escalation import evaluate as E
from assistant.escalation.calibrate import DATASET, load_dataset
from assistant.escalation.grading import agreement, is_correct
from assistant.escalation.scoring import auroc as pairwise_auroc

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("text,answers,number,right", [
    ("The capital of Minnesota is St. Paul.", ["Saint Paul"], None, True),
    ("It is 2,000 meters.", ["2000"], 2000.0, True),
    ("2000.0", [], 2000.0, True),
    ("That makes 2001.", ["2000"], 2000.0, False),
    ("Sao Tome", ["São Tomé"], None, True),
    ("Parisian food", ["Paris"], None, False),  # whole words only
    ("The answer is six letters.", ["6", "six"], 6.0, True),
    ("23 + 45 = 78", ["68"], 68.0, False),
])
def test_is_correct(text: str, answers: list[str], number: float | None, right: bool) -> None:
    assert is_correct(text, answers, number) is right


def test_agreement() -> None:
    assert agreement("Paris is the capital.", ["The capital is Paris."]) == 1.0
    assert agreement("Paris", ["Lyon", "Paris"]) == 0.5
    assert agreement("Paris", []) == 0.0


def test_metrics_on_known_scores() -> None:
    rng = np.random.default_rng(3)
    wrong = rng.integers(0, 2, 300)
    scores = wrong + rng.normal(size=300)
    assert E.auroc(scores, wrong) == pytest.approx(pairwise_auroc(scores, wrong))
    assert E.auroc([1, 1, 0], [1, 0, 0]) == pytest.approx(0.75)  # ties count one half
    point, lo, hi = E.bootstrap_auroc(scores, wrong, [str(i // 3) for i in range(300)], reps=200)
    assert lo < point < hi
    # A perfect score escalates exactly 80% of the wrong answers; a useless one needs far more.
    assert E.share_to_recover(wrong, wrong) == pytest.approx(E.oracle_share(wrong), abs=1 / 300)
    assert E.share_to_recover(-wrong, wrong) > 0.9
    curve = E.deferral_curve(scores, wrong)
    assert curve[0] == (0.0, pytest.approx(1 - wrong.mean())) and curve[-1] == (1.0, 1.0)
    assert all(b[1] >= a[1] for a, b in itertools.pairwise(curve))


def test_shipped_question_set_is_big_varied_and_split_by_template() -> None:
    rows = [json.loads(line) for line in DATASET.read_text().splitlines()]
    assert len(rows) >= 1000 and len({r["kind"] for r in rows}) >= 8
    assert len(load_dataset(DATASET)) == len(rows)
    splits = Counter(r["split"] for r in rows)
    assert splits["test"] >= 150 and splits["validation"] >= 150
    by_template: dict = {}
    for r in rows:  # a phrasing belongs to exactly one split
        by_template.setdefault((r["relation"], r["template"]), set()).add(r["split"])
    assert all(len(s) == 1 for s in by_template.values())
    for r in rows:  # every accepted answer grades as right
        assert is_correct(r["answers"][0], r["answers"], r.get("number")), r


def _pinned_packages_installed() -> bool:
    spec = importlib.util.spec_from_file_location("make_qa_set", ROOT / "scripts" / "make_qa_set.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    try:
        return all(metadata.version(name) == version for name, version in module.PACKAGES.items())
    except metadata.PackageNotFoundError:
        return False


@pytest.mark.skipif(not _pinned_packages_installed(), reason="the pinned data packages are not installed")
def test_question_set_is_regenerated_not_edited(tmp_path: Path) -> None:
    out = tmp_path / "qa.jsonl"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_qa_set.py"), "--out", str(out)], check=True,
                   capture_output=True, timeout=120)
    assert out.read_text() == DATASET.read_text()
