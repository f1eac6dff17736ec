"""Grading a free-text answer against accepted answers: normalised whole-word matching, aliases and numbers
with a relative tolerance; and how much k sampled answers agree with each other (a confidence signal)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

NUMBER_TOLERANCE = 1e-4
"""Relative tolerance of a numeric answer ("2000.0" and "2,000" are 2000; "2001" is not)."""
_ABBREVIATIONS = ((r"\bst\.?\s", "saint "), (r"\bmt\.?\s", "mount "), (r"\bft\.?\s", "fort "))
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w])")
_STOP = frozenset(["a", "an", "the", "is", "are", "was", "of", "in", "on", "at", "to", "and", "or", "it", "its", "this", "that", "answer", "be", "by", "for", "with", "as"])


def normalise(text: str) -> str:
    """Lower-case ASCII with digit grouping and hyphens removed and common abbreviations spelled out."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    plain = re.sub(r"(?<=\d),(?=\d{3}\b)", "", plain)
    plain = plain.replace("-", " ").replace("'s ", " ")
    for pattern, full in _ABBREVIATIONS:
        plain = re.sub(pattern, full, plain)
    return re.sub(r"\s+", " ", plain)


def is_correct(text: str, answers: Sequence[str], number: float | None = None) -> bool:
    """True if an accepted answer appears in `text` as whole words, or (for a numeric answer) a number in
    `text` equals `number` within `NUMBER_TOLERANCE`."""
    plain = normalise(text)
    for answer in answers:
        if re.search(r"(?<!\w)" + re.escape(normalise(answer).strip()) + r"(?!\w)", plain):
            return True
    if number is not None:
        for found in _NUMBER.findall(plain):
            if abs(float(found) - number) <= NUMBER_TOLERANCE * abs(number) + 1e-9:
                return True
    return False


def content_words(text: str, limit: int = 12) -> frozenset[str]:
    """The first `limit` words of `text` that carry content (the gist two answers can agree on)."""
    words = [w for w in re.findall(r"[a-z0-9]+", normalise(text)) if w not in _STOP]
    return frozenset(words[:limit])


def agreement(answer: str, others: Sequence[str]) -> float:
    """Mean Jaccard similarity of `answer`'s content words with each of `others` (1: they all say the same;
    0 without others). Agreement of independent samples is a known correctness signal (self-consistency)."""
    mine = content_words(answer)
    scores = []
    for other in others:
        theirs = content_words(other)
        union = mine | theirs
        scores.append(len(mine & theirs) / len(union) if union else 1.0)
    return sum(scores) / len(scores) if scores else 0.0
