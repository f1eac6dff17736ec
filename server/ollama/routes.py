"""The `/api/*` endpoints of Ollama's API. Same API key as `/v1` (Ollama clients send it as a Bearer header:
`ollama.Client(host=..., headers={"Authorization": "Bearer KEY"})`); errors are `{"error": message}`
(`server.errors`).

Generation goes through the same path as the OpenAI endpoints (`server.routes.respond`: admission, deadline,
cancellation on disconnect, the route headers); only the request translation and the response formatter differ.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel

import assistant
from assistant.errors import InvalidRequestError, ModelNotFoundError

from ..middleware import require_api_key
from ..routes import respond, state
from ..state import ServerState
from .embed import embed_response, embeddings_response
from .formatters import OllamaFormatter, ndjson
from .info import ModelFacts
from .pull import catalog_entry, pull, pull_stream
from .schemas import ChatBody, EmbedBody, EmbeddingsBody, GenerateBody, PullBody, ShowBody
from .translate import chat_job, generate_job, model_name

State = Annotated[ServerState, Depends(state)]
NDJSON = "application/x-ndjson"


class OllamaError(BaseModel):
    """Every error under `/api/`."""

    error: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": OllamaError} for code in (400, 401, 404, 413, 429, 502, 503, 504)}
_STREAMED: dict[int | str, dict[str, Any]] = {200: {"content": {NDJSON: {}, "application/json": {}}}}


def _served(hearth: ServerState, name: str) -> str:
    """The Hearth name of a model this server answers to (404 in Ollama's words otherwise)."""
    hearth.require_ready()
    hearth_name = model_name(name)
    if hearth_name not in hearth.model_names():
        raise ModelNotFoundError(f"model '{name}' not found; see /api/tags", param="model")
    return hearth_name


class JsonBodyRoute(APIRoute):
    """Reads every body as JSON whatever its Content-Type: Ollama does, and its clients and documented `curl -d`
    examples rely on it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            headers = [(k, v) for k, v in request.scope["headers"] if k != b"content-type"]
            scope = {**request.scope, "headers": [*headers, (b"content-type", b"application/json")]}
            return await handler(Request(scope, request.receive))

        return route


def build_ollama_router() -> APIRouter:
    api = APIRouter(prefix="/api", dependencies=[Depends(require_api_key)], responses=_ERRORS, tags=["ollama"],
                    route_class=JsonBodyRoute)
    facts: dict[str, ModelFacts] = {}  # one per app: this router is built for one app

    async def model_facts(hearth: ServerState) -> ModelFacts:
        hearth.require_ready()
        if "loaded" not in facts:
            facts["loaded"] = ModelFacts(hearth)
        await anyio.to_thread.run_sync(facts["loaded"].load)  # reads the GGUF header once
        return facts["loaded"]

    _add_generation_routes(api)
    _add_model_routes(api, model_facts)
    return api


def _add_generation_routes(api: APIRouter) -> None:
    @api.post("/chat", response_model=None, responses=_STREAMED)
    async def chat(body: ChatBody, request: Request, hearth: State) -> Response:
        """A chat reply (text, or tool calls when `tools` are given), streamed as NDJSON lines (default) or whole."""
        _served(hearth, body.model)
        formatter = OllamaFormatter(body.model, "message")
        if not body.messages:
            return JSONResponse(formatter.loaded())
        # Schemas become grammars here, which can take a while: off the event loop, as on /v1.
        spec = await anyio.to_thread.run_sync(chat_job, body, hearth.settings.sampling, hearth.assistant.n_ctx)
        return await respond(hearth, spec, formatter, request, body.stream)

    @api.post("/generate", response_model=None, responses=_STREAMED)
    async def generate(body: GenerateBody, request: Request, hearth: State) -> Response:
        """A completion of `prompt` (as a user turn, or `raw`), streamed as NDJSON lines (default) or whole."""
        _served(hearth, body.model)
        formatter = OllamaFormatter(body.model, "response")
        if not body.prompt:
            return JSONResponse(formatter.loaded())
        spec = await anyio.to_thread.run_sync(generate_job, body, hearth.settings.sampling, hearth.assistant.n_ctx)
        return await respond(hearth, spec, formatter, request, body.stream)

    @api.post("/embed")
    async def embed(body: EmbedBody, request: Request, hearth: State) -> JSONResponse:
        """L2-normalised embeddings of `input` (one text or several); `truncate` (default true) cuts long inputs
        to the context window and says so in the `x-hearth-truncated-tokens` header."""
        _served(hearth, body.model)
        return await embed_response(hearth, request, body)

    @api.post("/embeddings")
    async def embeddings(body: EmbeddingsBody, request: Request, hearth: State) -> JSONResponse:
        """Ollama's older endpoint: the pooled, unnormalised embedding of `prompt`."""
        _served(hearth, body.model)
        return await embeddings_response(hearth, request, body)


def _add_model_routes(api: APIRouter, model_facts: Callable[[ServerState], Coroutine[Any, Any, ModelFacts]]) -> None:
    @api.get("/tags")
    async def tags(hearth: State) -> dict[str, Any]:
        """The names this server answers to, with the loaded model's details."""
        return (await model_facts(hearth)).tags()

    @api.post("/show")
    async def show(body: ShowBody, hearth: State) -> dict[str, Any]:
        """Details, GGUF metadata, chat template and default parameters of a served model."""
        name = body.model or body.name
        if not name:
            raise InvalidRequestError("'model' is required", param="model")
        _served(hearth, name)
        return (await model_facts(hearth)).show(model_name(name))

    @api.get("/ps")
    async def ps(hearth: State) -> dict[str, Any]:
        """The loaded model (loaded for as long as the server runs)."""
        return (await model_facts(hearth)).ps()

    @api.get("/version")
    async def version() -> dict[str, str]:
        """Hearth's version."""
        return {"version": assistant.__version__}

    @api.post("/pull", response_model=None, responses=_STREAMED)
    async def pull_model(body: PullBody, hearth: State) -> Response:
        """Download a catalog model into the store (for the next `hearth serve --model`), with progress lines."""
        name = body.model or body.name
        if not name:
            raise InvalidRequestError("'model' is required", param="model")
        entry = await anyio.to_thread.run_sync(catalog_entry, hearth.settings, model_name(name))
        if body.stream:
            lines = (ndjson(line) async for line in pull_stream(hearth.settings, entry))
            return StreamingResponse(lines, media_type=NDJSON, headers={"Cache-Control": "no-cache"})
        await anyio.to_thread.run_sync(pull, hearth.settings, entry, lambda _line: None)
        return JSONResponse({"status": "success"})
