"""`POST /v1/embeddings` in OpenAI's shape, and `embed`, the one way both APIs (this and Ollama's `/api/embed`)
run an embedding request through the Assistant.

The input is a string, a list of strings, a list of token ids, or a list of token-id lists. Every input must fit
the model's context window (OpenAI's API has no truncation: a longer one is a 400 `context_length_exceeded`), and
a request is limited to `server.embed_max_inputs` inputs and `server.embed_max_tokens` tokens. The vectors are the
loaded model's pooled hidden states, L2-normalised (`assistant.embeddings`); `dimensions` cannot shorten them.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Sequence
from functools import partial
from typing import Annotated, Any, Literal

import anyio
import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field, StrictInt, StrictStr, field_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from assistant.embeddings import Embeddings, Input
from assistant.errors import EngineError, InvalidRequestError, ModelNotFoundError

from .errors import RequestTimeoutError, ShuttingDownError
from .schemas import Checked
from .state import ServerState

_DISCONNECT_CHECK_S = 0.25  # between two looks at whether the client is still there
_JSON_TYPES = {dict: "an object", type(None): "null", bool: "a boolean", int: "a number", float: "a number"}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shape_error(detail: str) -> PydanticCustomError:
    return PydanticCustomError("invalid_input", "{detail}; input is a string, a list of strings, a list of token "
                               "ids, or a list of token-id lists", {"detail": detail})


def check_input(value: Any) -> Any:
    """Refuse, with a sentence, an input of another shape, an empty list and empty strings (as OpenAI does)."""
    if isinstance(value, str):
        if not value:
            raise PydanticCustomError("empty_input", "must not be an empty string")
        return value
    if not isinstance(value, list):
        raise _shape_error(f"got {_JSON_TYPES.get(type(value), type(value).__name__)}")
    if not value:
        raise PydanticCustomError("empty_input", "must not be an empty list")
    if all(isinstance(v, str) for v in value):
        empty = next((i for i, v in enumerate(value) if not v), None)
        if empty is not None:
            raise PydanticCustomError("empty_input", "must not hold empty strings (input[{i}] is one)", {"i": empty})
        return value
    if all(_is_int(v) for v in value):
        return value
    if all(isinstance(v, list) and all(_is_int(t) for t in v) for v in value):
        empty = next((i for i, v in enumerate(value) if not v), None)
        if empty is not None:
            raise PydanticCustomError("empty_input", "must not hold empty token lists (input[{i}] is one)",
                                      {"i": empty})
        return value
    raise _shape_error("a list mixing kinds of items, or holding items of another type")


class EmbeddingRequest(Checked):
    """`POST /v1/embeddings`."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(..., min_length=1)
    """A model id from `/v1/models` (the loaded model or one of its aliases)."""
    input: StrictStr | list[StrictStr] | list[StrictInt] | list[list[StrictInt]]
    """Text, texts, token ids of one text, or token ids of several."""
    encoding_format: Literal["float", "base64"] = "float"
    """`float` (JSON numbers) or `base64` (little-endian float32 bytes)."""
    dimensions: int | None = Field(None, ge=1)
    """Only the model's own size is accepted (its vectors cannot be shortened): other values get a 400."""
    user: SkipJsonSchema[str | None] = None
    """Accepted and not used."""

    _input = field_validator("input", mode="before")(check_input)


def _inputs(value: str | list[str] | list[int] | list[list[int]]) -> list[Input]:
    if isinstance(value, str) or (value and _is_int(value[0])):
        return [value]  # type: ignore[list-item]
    return list(value)


def check_dimensions(hearth: ServerState, dimensions: int | None) -> None:
    """InvalidRequestError unless `dimensions` is None or the model's embedding size."""
    size = hearth.assistant.embedder.n_embd
    if dimensions is not None and dimensions != size:
        raise InvalidRequestError(f"dimensions: the loaded model's embeddings have {size} dimensions and cannot be "
                                  f"shortened or lengthened; leave 'dimensions' out (or send {size})",
                                  param="dimensions")


def check_local(hearth: ServerState, name: str) -> None:
    """404 for a name the server does not answer to; 400 for the cloud's names (embeddings are always local)."""
    hearth.require_ready()
    if name not in hearth.model_names():
        raise ModelNotFoundError(f"the model '{name}' does not exist; see /v1/models", param="model")
    if name != hearth.assistant.model_info.id and name not in hearth.settings.server.aliases:
        raise InvalidRequestError(f"'{name}' names the cloud model; embeddings come from the local model only "
                                  f"(use '{hearth.assistant.model_info.id}')", param="model")


async def embed(hearth: ServerState, request: Request, inputs: Sequence[Input], *, truncate: bool = False,
                normalize: bool = True) -> Embeddings:
    """Run one embedding request under the server's limits and deadline, stopping it if the client disconnects
    (errors already typed for the boundary: 400 for the request, 429 with Retry-After when too many wait, 504 past
    `server.request_timeout_s`, 503 once the server is shutting down)."""
    jobs = hearth.require_ready()
    limits = hearth.settings.server
    if len(inputs) > limits.embed_max_inputs:
        raise InvalidRequestError(f"input has {len(inputs)} items; at most {limits.embed_max_inputs} are embedded "
                                  "per request (server.embed_max_inputs)", param="input")
    cancel = threading.Event()
    run = partial(hearth.assistant.embed, inputs, truncate=truncate, normalize=normalize,
                  max_tokens=limits.embed_max_tokens, timeout=jobs.request_timeout_s, cancel=cancel)
    # A plain task, not a task group: a task group would wrap the request's own errors in an ExceptionGroup.
    watcher = asyncio.ensure_future(_watch(request, cancel))
    try:
        return await anyio.to_thread.run_sync(run)
    except TimeoutError as exc:
        raise RequestTimeoutError(str(exc)) from None
    except EngineError:
        if hearth.assistant.embedder.closed or not hearth.assistant.scheduler.running:
            raise ShuttingDownError("the server is shutting down") from None
        raise
    finally:
        watcher.cancel()


async def _watch(request: Request, cancel: threading.Event) -> None:
    """Set `cancel` when the client goes away (the embedding then stops before its next batch)."""
    while not await request.is_disconnected():
        await anyio.sleep(_DISCONNECT_CHECK_S)
    cancel.set()


def _encode(row: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(row.astype("<f4").tobytes()).decode("ascii")
    return row.tolist()


async def _state(request: Request) -> ServerState:
    return request.app.state.hearth


State = Annotated[ServerState, Depends(_state)]


def add_embeddings_route(v1: APIRouter) -> None:
    @v1.post("/embeddings", response_model=None)
    async def embeddings(body: EmbeddingRequest, request: Request, hearth: State) -> JSONResponse:
        """Embeddings of the input texts or token arrays from the loaded model (pooled, L2-normalised)."""
        check_local(hearth, body.model)
        check_dimensions(hearth, body.dimensions)
        result = await embed(hearth, request, _inputs(body.input))
        data = [{"object": "embedding", "index": i, "embedding": _encode(row, body.encoding_format)}
                for i, row in enumerate(result.vectors)]
        usage = {"prompt_tokens": result.total_tokens, "total_tokens": result.total_tokens}
        return JSONResponse({"object": "list", "data": data, "model": body.model, "usage": usage})
