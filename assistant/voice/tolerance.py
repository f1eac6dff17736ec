"""What open-vocabulary speech-to-text does to a command's words, undone before the command phrases are matched.

Whisper writes what it hears, and on short commands it slips on the small words: "the lamp in the study" comes out
as "the lamp and the study", "switch off" as "switch of", "bedroom" as "bed room", a leading "so" or "um" is
written down, and "20 degrees" becomes "20°C". `Tolerance.rewrite` maps those back; the intent recogniser tries the
rewrite only when the text as written matched no command, so no command that matches as written changes meaning.

`content_words` is what two readings of one utterance must share to be the same command (see
`IntentRecognizer.reconcile`): every word but articles, connectives and politeness.

Nothing here can add a room, a device or "all" that the text did not name, so a rewrite can never widen a command
(issue 16, part 5): a connective is read as "in" only between a device and a room of this home.
"""

from __future__ import annotations

import difflib
import re

from .home import Home
from .textnorm import normalize_words

FILLERS = frozenset({"um", "uh", "uhm", "umm", "erm", "er", "hmm", "mm", "ah"})
"""Hesitation sounds Whisper writes down; they never carry meaning in a command."""
_LEADING = re.compile(r"^(?:(?:so|and|now|alright|all right|right|well|oh|then|yeah|yes|hey|ok|okay|please|can you|"
                      r"could you|would you|will you) )+")
_TRAILING = re.compile(r"(?: (?:now|right now|then|again|please|for me|thanks|thank you))+$")
_CONNECTIVES = ("and", "on", "at", "an", "of", "from", "for", "inside")
"""Words Whisper writes for an unstressed "in" between a device and its room ("the lamp and the study")."""
_ATTRIBUTE_OF = re.compile(r"\b(brightness|temperature) (?:on|at|and|an|for|in|of) the\b")
"""The same slip after the attribute of `set the brightness of ...`, `what is the temperature in ...`."""
_UNITS = re.compile(r"\bdegrees? (?:celsius|centigrade|fahrenheit|c|f)\b")
_OFF = re.compile(r"^((?:turn|switch) )of\b|^((?:turn|switch) .+ )of$")
"""Whisper's "switch of the light" / "turn the fan of": "of" where only "off" makes a command."""
UNSTRESSED = frozenset({"the", "a", "an", "in", "of", "at", "and", "to", "percent", "degrees", "please", "thanks",
                        "thank", "you", "for", "me", "could", "can", "would", "will", "hey", "ok", "okay", "so",
                        "now", "just", *FILLERS})
"""Words two readings of a command may differ in without meaning different commands: not actions, on/off,
names, numbers or "all"."""


class Tolerance:
    """Rewrites for one home (its room and device names are what a connective may stand between)."""

    def __init__(self, home: Home) -> None:
        rooms = sorted({n for r in home.rooms for n in r.spoken}, key=len, reverse=True)
        devices = sorted({n for d in home.devices for n in d.spoken}, key=len, reverse=True)
        devices = sorted({*devices, *(d + "s" for d in devices if not d.endswith("s"))}, key=len, reverse=True)
        alt = lambda names: "|".join(re.escape(n) for n in names)
        self._connective = re.compile(rf"\b({alt(devices)}) (?:{'|'.join(_CONNECTIVES)}) (?:the )?({alt(rooms)})\b")
        words = {w for n in (*rooms, *devices) for w in n.split()}
        # "bed room" -> "bedroom": a name written as two words (only where the joined word is one of the home's)
        self._compounds = [(f"{w[:i]} {w[i:]}", w) for w in words for i in range(2, len(w) - 1)]
        self._names = words
        self._plural_names = words | {w + "s" for w in words}

    def rewrite(self, norm: str) -> str:
        """`norm` (normalised text: lowercase words, numbers spelled out) with Whisper's slips undone; the same
        text when there is nothing to undo."""
        words = [w for w in norm.split() if w not in FILLERS]
        text = " ".join(words)
        for split, whole in self._compounds:
            text = re.sub(rf"\b{split}\b", whole, text) if split in text else text
        text = _UNITS.sub("degrees", text)
        text = text.replace("per cent", "percent")
        text = re.sub(r"\b(the|a) \1\b", r"\1", text)
        text = _TRAILING.sub("", _LEADING.sub("", text))
        text = self._connective.sub(r"\1 in the \2", text)
        text = _ATTRIBUTE_OF.sub(lambda m: f"{m.group(1)} {'in' if m.group(1) == 'temperature' else 'of'} the", text)
        return _OFF.sub(lambda m: (m.group(1) or m.group(2)) + "off", text)

    def content_words(self, norm: str) -> list[str]:
        """The words of `norm` that distinguish one command from another, sorted (order is the phrase's, not the
        command's: "turn the fan off" and "turn off the fan" are one command); plural names folded."""
        out = []
        for w in self.rewrite(norm).split():
            if w in UNSTRESSED:
                continue
            if w.endswith("s") and w[:-1] in self._names:
                w = w[:-1]
            out.append(w)
        return sorted(out)

    def swap_names(self, whisper_text: str, grammar_text: str, names_only: bool = True) -> str | None:
        """Whisper's text as it wrote it, with the home's names where the grammar heard other names put in
        their place ("Set the heating in the bathroom to 23 degrees." + grammar "... bedroom ..." -> "Set the
        heating in the bedroom to 23 degrees."): the grammar's reading in Whisper's own spelling, to be scored
        by Whisper. None when the readings differ in anything but names (a word that is no name of this home is
        never swapped: "hallway" stays "hallway"), or do not differ. With `names_only` False every differing
        word is the grammar's ("Bim the desk lamp to 5%." -> "Dim the desk lamp to 5%."), except politeness and
        articles, which stay Whisper's; but a word Whisper heard is only ever replaced, never dropped."""
        tokens = whisper_text.split()
        words, owner = [], []
        for i, tok in enumerate(tokens):
            for w in normalize_words(tok):
                words.append(w)
                owner.append(i)
        grammar = grammar_text.lower().split()
        edits = []  # (first token, last token + 1, replacement words): tokens first..last become the words
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, words, grammar, autojunk=False).get_opcodes():
            if op == "equal" or (op != "replace" and {*words[i1:i2], *grammar[j1:j2]} <= UNSTRESSED):
                continue  # politeness and articles: Whisper's text keeps its own
            if names_only and (op != "replace" or not {*words[i1:i2], *grammar[j1:j2]} <= self._plural_names):
                return None
            heard = [w for w in words[i1:i2] if w not in UNSTRESSED]
            if len(heard) > len([w for w in grammar[j1:j2] if w not in UNSTRESSED]):
                return None  # words Whisper heard that the grammar has nothing for ("the garage light" -> "the
                # light", "the dining room lamp" -> "the light"): dropping them is how a command would reach
                # something it did not name
            if i1 == i2:  # an insertion: before the token that follows (or at the end)
                at = owner[i1] if i1 < len(owner) else len(tokens)
                if i1 > 0 and i1 < len(owner) and owner[i1 - 1] == at:
                    return None  # inside a written token
                edits.append((at, at, grammar[j1:j2]))
                continue
            first, last = owner[i1], owner[i2 - 1]
            if (i1 > 0 and owner[i1 - 1] == first) or (i2 < len(owner) and owner[i2] == last):
                return None  # the words share a written token with other words
            edits.append((first, last + 1, grammar[j1:j2]))
        if not edits:
            return None
        for first, end, new in reversed(edits):
            tail = re.sub(r"^.*?([^A-Za-z0-9]*)$", r"\1", tokens[end - 1]) if end > first else ""
            spoken = " ".join(new)
            if spoken and first < len(tokens) and tokens[first][:1].isupper():
                spoken = spoken.capitalize()
            if spoken:
                tokens[first:end] = [spoken + tail]
            else:  # a deletion: its punctuation stays with the word before
                tokens[first:end] = []
                if first > 0:
                    tokens[first - 1] = tokens[first - 1].rstrip(",.?!") + tail
        out = " ".join(tokens)
        return out[:1].upper() + out[1:] if whisper_text[:1].isupper() else out
