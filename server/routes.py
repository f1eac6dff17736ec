"""The HTTP endpoints: OpenAI's `/v1/*`, plus `/health` and `/metrics` (Ollama's `/api/*` is `server.ollama`)."""

from __future__ import annotations

import logging
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.background import BackgroundTask

from assistant.engine.events import RouteDecision
from assistant.errors import ModelNotFoundError

from .embeddings import add_embeddings_route
from .errors import ModelLoadingError, envelope
from .formatters import ChatFormatter, CompletionFormatter, ResponseFormatter
from .metrics import CONTENT_TYPE
from .middleware import require_api_key
from .schemas import (
    ChatCompletion,
    ChatCompletionRequest,
    Completion,
    CompletionRequest,
    ErrorEnvelope,
    Health,
    ModelCard,
    ModelList,
    SlotsHealth,
)
from .service import ClientGone, Run, stream, whole
from .state import ServerState
from .translate import JobSpec, Limits, chat_job, completion_job

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorEnvelope} for code in (400, 401, 404, 413, 429, 503, 504)}
TRUNCATED_HEADER = "x-hearth-truncated-tokens"
log = logging.getLogger("hearth.server")
_CLIENT_CLOSED = 499  # nginx's convention for "the client went away"; never seen by that client


async def state(request: Request) -> ServerState:
    return request.app.state.hearth


def _check_model(hearth: ServerState, name: str) -> None:
    if name not in hearth.model_names():
        raise ModelNotFoundError(f"the model '{name}' does not exist; see /v1/models", param="model")


def _limits(hearth: ServerState) -> Limits:
    info = hearth.assistant.model_info
    return Limits(n_ctx=info.n_ctx, n_vocab=info.n_vocab)


def _truncated_tokens(decision: RouteDecision) -> int:
    budget = decision.budget
    return budget.dropped_tokens if budget is not None and budget.truncated else 0


async def respond(hearth: ServerState, spec: JobSpec, formatter: ResponseFormatter, request: Request, streamed: bool) -> Response:
    """Run `spec` and answer in `formatter`, whole or streamed (the one path of every generation endpoint)."""
    jobs = hearth.require_ready()
    gauge = hearth.metrics.in_flight
    closed = []

    def on_close() -> None:
        if not closed:
            closed.append(True)
            spec.cancel.set()
            gauge.dec()

    if hearth.settings.log_prompts:  # off by default: prompts are the user's data
        first = spec.requests[0]
        log.info("%s prompt: %r", formatter.id, first.prompt if first.messages is None else
                 [(m.role, m.content) for m in first.messages])
    gauge.inc()
    handed_over = False
    try:
        run = Run(jobs, spec, request)
        decision = await run.decision()
        # Every choice answers the same conversation: the first one's budget speaks for all.
        formatter.truncated_tokens = _truncated_tokens(decision)
        if streamed:
            response = await stream(run, formatter, decision, on_close)
            # Runs even when the client leaves before the body's generator ever started.
            response.background = BackgroundTask(on_close)
            handed_over = True
        else:
            response = await whole(run, formatter, decision)
        if formatter.truncated_tokens:
            response.headers[TRUNCATED_HEADER] = str(formatter.truncated_tokens)
        return response
    except ClientGone:
        return Response(status_code=_CLIENT_CLOSED)
    finally:
        if not handed_over:
            on_close()


def build_router() -> APIRouter:
    router = APIRouter()
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key)], responses=_ERRORS)

    @v1.get("/models", response_model=ModelList)
    async def list_models(hearth: ServerState = Depends(state)) -> ModelList:
        hearth.require_ready()
        return ModelList(data=[ModelCard(id=n, created=hearth.started) for n in hearth.model_names()])

    @v1.get("/models/{model_id:path}", response_model=ModelCard)
    async def get_model(model_id: str, hearth: ServerState = Depends(state)) -> ModelCard:
        hearth.require_ready()
        _check_model(hearth, model_id)
        return ModelCard(id=model_id, created=hearth.started)

    @v1.post("/chat/completions", response_model=None, responses={200: {"model": ChatCompletion, "content": {
        "text/event-stream": {}}}})
    async def chat_completions(body: ChatCompletionRequest, request: Request,
                               hearth: ServerState = Depends(state)) -> Response:
        hearth.require_ready()
        _check_model(hearth, body.model)
        # A large JSON Schema can take long to become a grammar: off the event loop, so /health stays quick.
        spec = await anyio.to_thread.run_sync(chat_job, body, hearth.settings.sampling, _limits(hearth),
                                              hearth.settings.server.truncation)
        usage = bool(body.stream_options and body.stream_options.include_usage)
        formatter = ChatFormatter(body.model, body.n, include_usage=usage, logprobs=bool(body.logprobs),
                                  may_call=spec.requests[0].tools is not None and bool(spec.requests[0].tools.offered))
        return await respond(hearth, spec, formatter, request, body.stream)

    @v1.post("/completions", response_model=None, responses={200: {"model": Completion, "content": {
        "text/event-stream": {}}}})
    async def completions(body: CompletionRequest, request: Request,
                          hearth: ServerState = Depends(state)) -> Response:
        hearth.require_ready()
        _check_model(hearth, body.model)
        spec = await anyio.to_thread.run_sync(completion_job, body, hearth.settings.sampling, _limits(hearth))
        usage = bool(body.stream_options and body.stream_options.include_usage)
        formatter = CompletionFormatter(body.model, body.n, include_usage=usage, logprobs=body.logprobs)
        return await respond(hearth, spec, formatter, request, body.stream)

    add_embeddings_route(v1)

    @router.get("/health", response_model=Health, responses={503: {"model": ErrorEnvelope}})
    async def health(hearth: ServerState = Depends(state)) -> Any:
        if not hearth.ready or hearth.assistant is None:
            error = ModelLoadingError(f"the model failed to load: {hearth.load_error.message}"
                                      if hearth.load_error else "the model is loading")
            return JSONResponse(envelope(503, error.message, error.code), status_code=503)
        scheduler = hearth.assistant.scheduler
        return Health(model=hearth.assistant.model_info.id, n_ctx=hearth.assistant.n_ctx,
                      slots=SlotsHealth(total=scheduler.engine.n_slots, busy=scheduler.busy_slots,
                                        waiting=scheduler.waiting))

    @router.get("/metrics", dependencies=[Depends(require_api_key)], response_class=Response,
                responses={200: {"content": {CONTENT_TYPE: {}}}, 401: {"model": ErrorEnvelope}})
    async def metrics(hearth: ServerState = Depends(state)) -> Response:
        return Response(hearth.metrics.render(), media_type=CONTENT_TYPE)

    router.include_router(v1)
    return router
