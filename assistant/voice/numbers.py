"""Spoken numbers 0-100 in words, both ways (speech-to-text yields words; typed text may carry digits)."""

from __future__ import annotations

import re

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
         "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
MAX = 100


def to_words(n: int) -> str:
    """`42` -> `forty two` (0..100)."""
    if not 0 <= n <= MAX:
        raise ValueError(f"{n} is outside 0..{MAX}")
    if n == MAX:
        return "one hundred"
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])


WORDS_TO_NUMBER = {to_words(n): n for n in range(MAX + 1)} | {"a hundred": 100, "hundred": 100}
"""Every spelling this module understands."""


def all_words() -> list[str]:
    """The spellings of 0..100, longest first (so a regex alternation prefers `twenty one` over `twenty`)."""
    return sorted(WORDS_TO_NUMBER, key=len, reverse=True)


def digits_to_words(text: str) -> str:
    """Replace whole numbers 0..100 written in digits by words (`set it to 50%` -> `set it to fifty %`)."""

    def spell(match: re.Match[str]) -> str:
        n = int(match.group(0))
        return f" {to_words(n)} " if n <= MAX else match.group(0)

    return re.sub(r"\d+", spell, text)
