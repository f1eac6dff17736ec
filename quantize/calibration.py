"""Calibration and evaluation text.

The default corpus ships with Python itself (`pydoc_data.topics`: ~465 KB of English reference prose and
code), so
it exists offline everywhere. Its topics are split deterministically: every third topic (sorted by name) is
held out
for evaluation, the rest calibrate, without the paragraphs they share with the held-out topics. The topics differ
from one Python version to the next (3.10's are not 3.11's), so the source's name says which Python's they are.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import InvalidRequestError

DEFAULT_SOURCE = f"python{sys.version_info.major}.{sys.version_info.minor}:pydoc_data.topics"


@dataclass(frozen=True, slots=True)
class Texts:
    """Calibration and held-out evaluation text."""

    calibration: str
    """Text for the importance matrix."""
    evaluation: str
    """Held-out text for perplexity and KL divergence (disjoint from calibration)."""
    source: str
    """Where they came from (`python3.11:pydoc_data.topics` or a file path)."""


def _pydoc_topics() -> tuple[list[str], list[str]]:
    from pydoc_data.topics import topics

    calib, held_out = [], []
    for i, name in enumerate(sorted(topics)):
        (held_out if i % 3 == 2 else calib).append(topics[name])
    # Some topics quote others verbatim (e.g. `async` and `compound`); such paragraphs stay on the held-out
    # side.
    seen = {p.strip() for text in held_out for p in text.split("\n\n")}
    calib = ["\n\n".join(p for p in text.split("\n\n") if p.strip() not in seen) for text in calib]
    return calib, held_out


def load_texts(calibration_file: Path | None, calibration_bytes: int, eval_bytes: int) -> Texts:
    """Calibration text from `calibration_file` (or the default corpus) and held-out evaluation text.

    With a user file, its last 1/3 (at a line boundary) is held out for evaluation, so they stay disjoint.
    """
    if calibration_file is None:
        calib, held_out = _pydoc_topics()
        return Texts(
            "\n\n".join(calib)[:calibration_bytes], "\n\n".join(held_out)[:eval_bytes], DEFAULT_SOURCE
        )
    try:
        text = Path(calibration_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(
            f"cannot read calibration file {calibration_file}: {exc}", param="calibration"
        ) from None
    cut = text.rfind("\n", 0, len(text) * 2 // 3)
    cut = cut if cut > 0 else len(text) * 2 // 3
    return Texts(text[:cut][:calibration_bytes], text[cut:][:eval_bytes], str(calibration_file))
