"""Redaction for privacy mode `redact`: PII is replaced by placeholders before anything leaves the device, and
the placeholders in the cloud's reply are put back (also when a placeholder is split across streamed chunks).

Detected: e-mail addresses, IBANs (mod-97 checked), card numbers (Luhn checked), IPv4/IPv6 addresses, phone
numbers (9-15 digits, or 7+ after a `+`), and user-configured terms (case-insensitive, whole words).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from ..engine.events import ChatMessage

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")
_CARD = re.compile(r"(?<![\d.])\d(?:[ -]?\d){12,18}(?![\d.])")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\d.])(?:{_OCTET}\.){{3}}{_OCTET}(?![\d.])")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_PHONE = re.compile(r"(?<![\w+])(?<!\d[ .-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d(?:[ .-]?\d){5,14}"
                    r"(?![ .-]?\d)(?!\w)")
_PLACEHOLDER = re.compile(r"\[(?:EMAIL|IBAN|CARD|IP|PHONE|TERM)_\d+\]")
_MAX_PLACEHOLDER = 16  # longest placeholder text we hold back while streaming, e.g. "[EMAIL_1234]"


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    s = text.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _card_ok(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def _ipv6_ok(text: str) -> bool:
    if text.count(":") < 2 or not any(c.isalnum() for c in text):
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _phone_ok(text: str) -> bool:
    digits = sum(c.isdigit() for c in text)
    return 9 <= digits <= 15 or (text.startswith("+") and digits >= 7)


# Order matters: a span claimed by an earlier kind is not looked at again (an IBAN holds digit runs a phone
# pattern would also take).
_KINDS: tuple[tuple[str, re.Pattern[str], Callable[[str], bool]], ...] = (
    ("EMAIL", _EMAIL, lambda s: True),
    ("IBAN", _IBAN, iban_ok),
    ("CARD", _CARD, _card_ok),
    ("IP", _IPV4, lambda s: True),
    ("IP", _IPV6, _ipv6_ok),
    ("PHONE", _PHONE, _phone_ok),
)


@dataclass
class Redactor:
    """Replaces PII with placeholders, remembering originals so a reply can be restored. One per request."""

    terms: Sequence[str] = ()
    """User-configured words or phrases that must never leave the device."""
    mapping: dict[str, str] = field(default_factory=dict)
    """Placeholder -> original text."""
    count: int = 0
    """Replacements made (every occurrence counts)."""

    def __post_init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        words = sorted({t.strip() for t in self.terms if t.strip()}, key=len, reverse=True)
        self._terms = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)",
                                 re.IGNORECASE) if words else None

    def redact(self, text: str) -> str:
        if self._terms is not None:
            text = self._terms.sub(lambda m: self._placeholder("TERM", m.group(0)), text)
        for kind, pattern, valid in _KINDS:
            text = pattern.sub(lambda m, k=kind, ok=valid: self._sub(k, m.group(0), ok), text)
        return text

    def _sub(self, kind: str, found: str, valid: Callable[[str], bool]) -> str:
        if _PLACEHOLDER.fullmatch(found) or not valid(found):
            return found
        return self._placeholder(kind, found)

    def _placeholder(self, kind: str, original: str) -> str:
        self.count += 1
        key = (kind, original.lower() if kind == "TERM" else original)
        ph = self._by_value.get(key)
        if ph is None:
            ph = f"[{kind}_{sum(1 for k in self._by_value if k[0] == kind) + 1}]"
            self._by_value[key] = ph
            self.mapping[ph] = original
        return ph

    def restore(self, text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: self.mapping.get(m.group(0), m.group(0)), text)

    def redact_message(self, message: ChatMessage) -> ChatMessage:
        """`message` with its text, and its tool calls' arguments, redacted (tool results are `tool` messages'
        text)."""
        calls = tuple(dataclasses.replace(c, arguments=self.redact_arguments(c.arguments))
                      for c in message.tool_calls)
        return dataclasses.replace(message, content=self.redact(message.content), tool_calls=calls)

    def redact_arguments(self, arguments: str) -> str:
        """A call's arguments (JSON text) with every string value redacted, so the JSON stays valid whatever a
        placeholder replaces (text that is not JSON is redacted as text)."""
        return _map_json(arguments, self.redact)

    def restore_arguments(self, arguments: str) -> str:
        """The cloud's call arguments with placeholders in string values put back (escaped as JSON needs)."""
        return _map_json(arguments, self.restore)

    def restore_stream(self, chunks: Iterable[str]) -> Iterator[str]:
        """Restore placeholders in streamed text, holding back a tail that may start a placeholder."""
        pending = ""
        for chunk in chunks:
            pending += chunk
            cut = _safe_cut(pending)
            if cut:
                yield self.restore(pending[:cut])
                pending = pending[cut:]
        if pending:
            yield self.restore(pending)


def _map_json(text: str, fn: Callable[[str], str]) -> str:
    try:
        value = json.loads(text)
    except ValueError:
        return fn(text)

    def walk(v):
        if isinstance(v, str):
            return fn(v)
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}  # keys are the schema's property names
        return v

    return json.dumps(walk(value), ensure_ascii=False)


def _safe_cut(text: str) -> int:
    """How much of `text` can be released: everything before a trailing `[` that could still grow into a
    placeholder."""
    start = text.rfind("[", max(0, len(text) - _MAX_PLACEHOLDER))
    if start == -1 or "]" in text[start:]:
        return len(text)
    if re.fullmatch(r"\[(?:[A-Z]+(?:_\d*)?)?", text[start:]):
        return start
    return len(text)
