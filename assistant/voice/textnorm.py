"""Text normalisation for word error rates: the same words written differently count as the same."""

from __future__ import annotations

import re

from .numbers import digits_to_words

_CONTRACTIONS = {"what's": "what is", "it's": "it is", "that's": "that is", "who's": "who is", "where's": "where is",
                 "how's": "how is", "there's": "there is", "i'm": "i am", "don't": "do not", "doesn't": "does not",
                 "isn't": "is not", "can't": "cannot", "let's": "let us", "you're": "you are"}


def normalize_words(text: str) -> list[str]:
    """Lowercase words: numbers 0-100 spelled out, `%` -> percent, contractions expanded, punctuation dropped
    (`Set it to 50%.` -> `set it to fifty percent`)."""
    text = text.lower().replace("%", " percent ").replace("°", " degrees ").replace("’", "'")
    text = digits_to_words(text)
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    words = []
    for w in text.split():
        w = w.strip("'")
        words += _CONTRACTIONS.get(w, w).split()
    return [w for w in words if w]
