"""Cut a stream of generated text into speakable pieces, so speech can start before generation ends."""

from __future__ import annotations

import re

# A sentence ends at . ! ? (or a newline) followed by whitespace; a decimal point ("2.5") is not an end.
_END = re.compile(r"(?<!\d\.)(?<=[.!?])[\"')\]]*\s+|\n+")
_CLAUSE = re.compile(r"(?<=[,;:])\s+")
_SPACE = re.compile(r"(?<=\S)\s+")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MARKUP = re.compile(r"[*_#`>~|]+")


def clean_for_speech(text: str) -> str:
    """Drop markdown that a speech engine would read out (asterisks, hashes, backticks, link targets)."""
    text = _MARKUP.sub(" ", _LINK.sub(r"\1", text))
    text = re.sub(r"^\s*(?:[-+]|\d+[.)])\s+", "", text, flags=re.MULTILINE)  # list bullets
    return " ".join(text.split())


class SentenceChunker:
    """`push` text deltas, get back finished sentences; `flush` returns the rest at the end.

    A long first sentence is cut at a clause boundary (`,;:`) once it has `first_clause_words` words, or at a word
    boundary once it has `first_max_words`, because the delay before the first audio matters more than prosody.
    """

    def __init__(self, first_clause_words: int = 6, first_max_words: int = 10) -> None:
        self._buf = ""
        self._emitted = 0
        self.first_clause_words = first_clause_words
        self.first_max_words = first_max_words

    def push(self, text: str) -> list[str]:
        self._buf += text
        out: list[str] = []
        while True:
            m = _END.search(self._buf)
            if m is None and self._emitted == 0:
                m = self._first_clause_cut()
            if m is None:
                break
            piece, self._buf = self._buf[:m.start()], self._buf[m.end():]
            self._emit(piece, out)
        return out

    def _first_clause_cut(self):
        for m in _CLAUSE.finditer(self._buf):
            if len(self._buf[:m.start()].split()) >= self.first_clause_words:
                return m
        spaces = list(_SPACE.finditer(self._buf))
        # The word after the cut must be complete (followed by a space), so a cut never splits a word.
        if len(spaces) > self.first_max_words:
            return spaces[self.first_max_words - 1]
        return None

    def flush(self) -> list[str]:
        out: list[str] = []
        self._emit(self._buf, out)
        self._buf = ""
        return out

    def _emit(self, piece: str, out: list[str]) -> None:
        piece = clean_for_speech(piece)
        if any(c.isalnum() for c in piece):
            out.append(piece)
            self._emitted += 1
