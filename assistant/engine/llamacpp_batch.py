"""Filling one llama.cpp batch from several sequences, and turning its logits into each sequence's events.

Pure helpers of `LlamaCppEngine.step`: one forward pass carries every decoding sequence's last sampled token
first (one token each, so streams in flight never wait behind a prompt), then prompt chunks of the sequences
still being prefilled, oldest first, up to `n_batch` tokens in all. Only the last token of a finished prompt and
the decoding tokens ask for logits (llama.cpp's `logits` flag), so a chunk of a long prompt costs no vocabulary
projection. This is the mixing llama.cpp's own server does (`tools/server/server.cpp`, `update_slots`).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence as Seq
from typing import Any

import llama_cpp as L
import numpy as np

from .events import TextDelta, TokenEvent, TopLogprob
from .logprobs import logsumexp_and_entropy, top_alternatives
from .sequence import Sequence


class Batch:
    """A reusable `llama_batch` of `capacity` tokens, one sequence id per token."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.raw = L.llama_batch_init(capacity, 0, 1)
        self.n = 0

    def clear(self) -> None:
        self.n = 0

    def add(self, token: int, pos: int, seq_id: int, logits: bool) -> int:
        """Append one token; returns its index in the batch (where its logits will be)."""
        i, raw = self.n, self.raw
        raw.token[i] = token
        raw.pos[i] = pos
        raw.n_seq_id[i] = 1
        raw.seq_id[i][0] = seq_id
        raw.logits[i] = logits
        self.n = i + 1
        return i

    def seal(self) -> Any:
        self.raw.n_tokens = self.n
        return self.raw

    def free(self) -> None:
        if self.raw is not None:
            L.llama_batch_free(self.raw)
            self.raw = None


def fill(batch: Batch, seqs: Seq[Sequence], slot_cache: list[list[int]]) -> list[tuple[Sequence, int]]:
    """Put the next tokens of `seqs` into `batch`; returns (sequence, logits index) of those that get a token.

    Updates each sequence's `n_past` and its slot's cached-token list as if the decode succeeds (the caller clears
    everything if it does not)."""
    batch.clear()
    rows: list[tuple[Sequence, int]] = []
    for seq in seqs:
        if seq.next_token is not None and seq.done is None:
            rows.append((seq, batch.add(seq.next_token, seq.n_past, seq.slot, True)))
            slot_cache[seq.slot].append(seq.next_token)
            seq.n_past += 1
            seq.next_token = None  # consumed; sampling this step sets the next one
    for seq in seqs:
        room = batch.capacity - batch.n
        if room <= 0:
            break
        if not seq.prefilling:
            continue
        start = seq.n_past
        take = min(seq.pending, room)
        chunk = seq.prompt[start:start + take]
        ends_prompt = start + take == len(seq.prompt)
        for j, token in enumerate(chunk):
            index = batch.add(token, start + j, seq.slot, ends_prompt and j == take - 1)
        slot_cache[seq.slot].extend(chunk)
        seq.n_past += take
        if ends_prompt:
            rows.append((seq, index))
    return rows


def token_event(logits_ptr: Any, n_vocab: int, token: int, n_top: int,
                piece: Callable[[int], bytes]) -> TokenEvent:
    """The sampled token with its log-probability under the raw distribution, the entropy (nats) of that
    distribution, and the `n_top` most likely alternatives."""
    logits = np.ctypeslib.as_array(logits_ptr, shape=(n_vocab,))
    lse, entropy = logsumexp_and_entropy(logits)
    top = tuple(TopLogprob(i, piece(i), lp) for i, lp in top_alternatives(logits, lse, n_top))
    return TokenEvent(token_id=token, piece=piece(token), logprob=float(logits[token]) - lse, top=top,
                      entropy=entropy)


def advance(seq: Sequence, event: TokenEvent, is_eog: bool, now: float) -> None:
    """Record a sampled token: its events, and whether the sequence is done (end of generation, a stop string,
    its token limit). Otherwise the token is fed to the next step."""
    seq.n_out += 1
    if seq.n_out == 1:
        seq.first = now
    if is_eog:
        seq.done = "stop"
        return
    seq.events.append(event)
    text = seq.stream.push(event.piece)
    if text:
        seq.events.append(TextDelta(text))
    if seq.stream.stopped is not None:
        seq.done = "stop"
    elif seq.n_out >= seq.limit:
        seq.done = "length"
    else:
        seq.next_token = event.token_id
