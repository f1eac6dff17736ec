"""Ollama's `/api/embed` and its older `/api/embeddings`, answered by the same embedding path as `/v1/embeddings`
(`server.embeddings.embed`).

`/api/embed` follows Ollama (server/routes.go `EmbedHandler`): an empty input only loads the model and answers no
vectors; with `truncate` (the default) an input longer than the context keeps its first `n_ctx` tokens, and
Hearth says how many tokens were cut in the `x-hearth-truncated-tokens` header (Ollama's response has no field
for it); vectors are L2-normalised. `/api/embeddings` answers the pooled vector unnormalised, as Ollama's older
endpoint does, and refuses (400) an input longer than the context rather than cutting it.
"""

from __future__ import annotations

import time

from fastapi import Request
from fastapi.responses import JSONResponse

from ..embeddings import check_dimensions, check_local, embed
from ..state import ServerState
from .schemas import EmbedBody, EmbeddingsBody
from .translate import model_name

TRUNCATED_HEADER = "x-hearth-truncated-tokens"  # as `server.routes` (not imported: it imports this package)
_NS = 1_000_000_000


async def embed_response(hearth: ServerState, request: Request, body: EmbedBody) -> JSONResponse:
    """`{"model", "embeddings", "total_duration", "load_duration", "prompt_eval_count"}` (durations in ns)."""
    started = time.perf_counter()
    check_local(hearth, model_name(body.model))
    check_dimensions(hearth, body.dimensions)
    inputs = [body.input] if isinstance(body.input, str) else list(body.input or [])
    if not any(inputs) and len(inputs) <= 1:  # "" or [] or absent: Ollama loads the model and answers no vectors
        return JSONResponse({"model": body.model, "embeddings": [], "total_duration": 0, "load_duration": 0,
                             "prompt_eval_count": 0})
    result = await embed(hearth, request, inputs, truncate=body.truncate)
    payload = {"model": body.model, "embeddings": result.vectors.tolist(),
               "total_duration": round((time.perf_counter() - started) * _NS), "load_duration": 0,
               "prompt_eval_count": result.total_tokens}
    cut = sum(result.truncated_tokens)
    return JSONResponse(payload, headers={TRUNCATED_HEADER: str(cut)} if cut else None)


async def embeddings_response(hearth: ServerState, request: Request, body: EmbeddingsBody) -> JSONResponse:
    """`{"embedding": [...]}`: the pooled vector, not normalised."""
    check_local(hearth, model_name(body.model))
    if not body.prompt:
        return JSONResponse({"embedding": []})
    result = await embed(hearth, request, [body.prompt], normalize=False)
    return JSONResponse({"embedding": result.vectors[0].tolist()})
