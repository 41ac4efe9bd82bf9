"""Every error the service answers is JSON ``{"error": "<one line>"}`` with its HTTP status.

Handlers here turn our own ``ApiError``, Starlette's HTTP errors (404, 405), request validation
errors, ``SegnetError`` (bad input the model refused) and anything unexpected into that shape, so
that no request ever sees a traceback. Unexpected errors are logged with their traceback on the
server's stderr, where the operator can read them.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from segnet.errors import SegnetError

log = logging.getLogger("segnet.service")


class ApiError(Exception):
    """A request the service refuses: ``status`` and a one-line ``message`` for the client."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    one_line = " ".join(str(message).split()) or "error"
    return JSONResponse({"error": one_line}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every failure the ``{"error": ...}`` shape."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        return error_response(exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "body"))
        return error_response(400, f"{where or 'request'}: {first.get('msg', 'invalid value')}")

    @app.exception_handler(SegnetError)
    async def segnet_error(request: Request, exc: SegnetError) -> JSONResponse:
        return error_response(400, str(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error answering %s %s", request.method, request.url.path)
        return error_response(500, f"internal error ({type(exc).__name__}); the server log has the details")
