"""Redaction: every PII kind is replaced, look-alikes that fail their checksum are not, replies are restored
even when placeholders are split across streamed chunks."""

from __future__ import annotations

import pytest

from assistant.escalation.redact import Redactor, iban_ok, luhn_ok

PII = {
    "email": "jane.doe+work@mail.example.org",
    "phone": "+44 20 7946 0958",
    "phone_us": "(555) 123-4567",
    "card": "4111 1111 1111 1111",
    "card_plain": "5555555555554444",
    "ipv4": "192.168.10.42",
    "ipv6": "2001:db8:85a3::8a2e:370:7334",
    "iban": "DE89 3704 0044 0532 0130 00",
    "iban_compact": "GB82WEST12345698765432",
}


@pytest.mark.parametrize("kind", sorted(PII))
def test_each_kind_is_replaced_and_restored(kind: str) -> None:
    text = f"Please remember {PII[kind]} for later."
    r = Redactor()
    redacted = r.redact(text)
    assert PII[kind] not in redacted
    assert r.count == 1
    assert r.restore(redacted) == text


def test_checksums_guard_cards_and_ibans() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("DE89 3704 0044 0532 0130 00") and not iban_ok("DE88 3704 0044 0532 0130 00")
    r = Redactor()
    text = "Order 4111 1111 1111 1112 and account DE88 3704 0044 0532 0130 00 on 2024-01-05 at 12:30:45."
    assert r.redact(text) == text
    assert r.count == 0


def test_ordinary_numbers_are_left_alone() -> None:
    r = Redactor()
    text = "What is 385 minus 69? Version 1.2.3, 10.5 percent, year 1999, room 12345."
    assert r.redact(text) == text


def test_terms_are_case_insensitive_whole_words_and_reused() -> None:
    r = Redactor(terms=["Project Falcon", "Acme"])
    out = r.redact("project falcon at ACME; Acmeville stays; again Project Falcon")
    assert out == "[TERM_1] at [TERM_2]; Acmeville stays; again [TERM_1]"
    assert r.count == 3
    assert r.restore("Reply about [TERM_1] and [TERM_2].") == "Reply about project falcon and ACME."


def test_same_value_same_placeholder_across_messages() -> None:
    r = Redactor()
    a = r.redact(f"mail {PII['email']}")
    b = r.redact(f"again {PII['email']} and bob@example.com")
    assert a == "mail [EMAIL_1]" and b == "again [EMAIL_1] and [EMAIL_2]"


def test_stream_restore_handles_every_split_point() -> None:
    r = Redactor()
    redacted = r.redact(f"write to {PII['email']} or {PII['ipv4']} [not a placeholder] [EMAIL_9]")
    expected = r.restore(redacted)
    assert PII["email"] in expected and "[not a placeholder]" in expected and "[EMAIL_9]" in expected
    for cut in range(1, len(redacted)):
        for cut2 in range(cut, len(redacted), 5):
            chunks = [redacted[:cut], redacted[cut:cut2], redacted[cut2:]]
            assert "".join(r.restore_stream(iter(chunks))) == expected
    single = "".join(r.restore_stream(iter(redacted)))  # one character per chunk
    assert single == expected


def test_stream_restore_does_not_hold_back_plain_text() -> None:
    r = Redactor()
    r.redact(PII["email"])
    pieces = list(r.restore_stream(iter(["Hello ", "world", " [", "x] done"])))
    assert pieces[:2] == ["Hello ", "world"]
    assert "".join(pieces) == "Hello world [x] done"
