"""Server-side errors and the one place where every failure becomes an error body.

OpenAI's envelope `{"error": {"message", "type", "param", "code"}}` everywhere except under Ollama's API (`/api/`),
whose clients read `{"error": "message"}`; both with the status the error carries. Hearth's typed errors already
know their `http_status` and `code`; FastAPI's validation errors, unknown routes and anything unexpected are mapped
here too, so no handler anywhere else formats an error and no response ever carries a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.encodable import escape
from assistant.errors import EngineBusyError, HearthError

log = logging.getLogger("hearth.server")

# OpenAI's `type` for each status (clients such as the official SDK pick their exception class by status).
_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
          404: "not_found_error", 405: "invalid_request_error", 408: "timeout_error", 413: "invalid_request_error",
          429: "rate_limit_error", 503: "service_unavailable_error",
          504: "timeout_error"}


class AuthenticationError(HearthError):
    """The API key is missing or wrong."""

    code = "invalid_api_key"
    http_status = 401


class ModelLoadingError(HearthError):
    """The model is still loading (or failed to load); nothing can be served yet."""

    code = "model_loading"
    http_status = 503


class ShuttingDownError(HearthError):
    """The server is stopping and takes no new work."""

    code = "shutting_down"
    http_status = 503


class RequestTimeoutError(HearthError):
    """The request did not finish within `server.request_timeout_s` (queueing included)."""

    code = "timeout"
    http_status = 504


class PayloadTooLargeError(HearthError):
    """The request body exceeds `server.max_body_bytes`."""

    code = "payload_too_large"
    http_status = 413


def envelope(status: int, message: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    # Messages and params can quote what the client sent (a field name, a model id); a lone surrogate in it would
    # make the error itself unencodable, so it is sent escaped.
    return {"error": {"message": escape(message), "type": _TYPES.get(status, "server_error" if status >= 500
                                                                       else "invalid_request_error"),
                      "param": None if param is None else escape(param), "code": code}}


OLLAMA_PREFIX = "/api/"


def error_body(path: str, status: int, message: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    """The error body for a request to `path`: Ollama's `{"error": message}` under `/api/`, else OpenAI's."""
    if path.startswith(OLLAMA_PREFIX):
        return {"error": message}
    return envelope(status, message, code, param)


def error_response(exc: HearthError, path: str = "") -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, EngineBusyError) else None
    if isinstance(exc, AuthenticationError):
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse(error_body(path, exc.http_status, exc.message, exc.code, exc.param),
                        status_code=exc.http_status, headers=headers)


def stream_error(exc: HearthError) -> dict[str, Any]:
    """The payload of an SSE `data:` line for an error met after the stream's headers were sent."""
    return envelope(exc.http_status, exc.message, exc.code, exc.param)


def as_hearth_error(exc: BaseException) -> HearthError:
    """Anything unexpected becomes a generic 500 (logged with its trace here, never sent to the client)."""
    if isinstance(exc, HearthError):
        return exc
    log.error("unexpected error while serving a request", exc_info=exc)
    error = HearthError("internal server error")
    error.code = "internal_error"
    return error


_TYPE_TAGS = {"str", "int", "float", "bool", "dict", "list", "none", "json-or-python", "constrained-str",
              "constrained-int", "constrained-float", "constrained-list", "constrained-dict"}


def _param_of(loc: tuple[Any, ...]) -> str | None:
    # pydantic puts union member tags (`str`, `list[str]`, `function-after[...]`) in locations; they are no parameter.
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")
             and not (isinstance(p, str) and ("[" in p or p in _TYPE_TAGS))]
    if not parts:
        return None
    out = parts[0]
    for p in parts[1:]:
        out += f"[{p}]" if p.isdigit() else f".{p}"
    return out


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception to the envelope, once."""

    async def hearth(request: Request, exc: HearthError) -> JSONResponse:
        return error_response(exc, request.url.path)

    async def validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        path = request.url.path
        # 400, as OpenAI and llama.cpp's server answer a malformed request (FastAPI's own choice is 422).
        # Of a union's several failures, the branch that got deepest into the value says most.
        first = max(exc.errors(), key=lambda e: len(_param_of(tuple(e.get("loc", ()))) or ""),
                    default={"loc": (), "msg": "invalid request"})
        param = _param_of(tuple(first.get("loc", ())))
        message, code = first.get("msg", "invalid request"), "invalid_value"
        if first.get("type") == "extra_forbidden" and param:
            # An unknown parameter is a request Hearth does not understand, not a badly typed value.
            message, code = f"unrecognized request parameter '{param}'", "unknown_parameter"
        elif first.get("type") == "json_invalid":
            message, param, code = "the request body is not valid JSON", None, "invalid_json"
        elif first.get("type") == "string_unicode":  # pydantic-core met a lone surrogate (in a value or a key)
            where = f"{param}: a value or field name" if param else "a field name in the request body"
            message = f"{where} contains a lone surrogate (text that is not valid Unicode)"
        elif first.get("type") == "missing" and param:
            message, code = f"missing required parameter '{param}'", "missing_required_parameter"
        elif param:
            message = f"{param}: {message}"
        return JSONResponse(error_body(path, 400, message, code, param), status_code=400)

    async def http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(exc.status_code)
        return JSONResponse(error_body(request.url.path, exc.status_code, str(exc.detail), code),
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return error_response(as_hearth_error(exc), request.url.path)

    app.add_exception_handler(HearthError, hearth)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, unexpected)
