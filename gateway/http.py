"""The HTTP edge: what every request crosses, whether Litestar's router or a hot lane serves it.

Body reading (1 MiB, 413), JSON and error responses, the Idempotency-Key check, and the one
mapping from an exception to the answer a client sees (`refusal`): Litestar's exception handler
(`gateway/app.py`) and the hot lanes (`gateway/ops/lanes.py`) both answer through it, so a
newly mapped error (another backing service that may fail, say) is mapped once, here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.params import HeaderParameter
from litestar.types import Message, Receive, Send
from redis.exceptions import RedisError

from gateway.errors import GatewayError, InvalidRequest, TooLarge, Unavailable
from gateway.wire import Out

log = logging.getLogger("gateway")

#: The largest request body (413 `request_too_large` above it).
MAX_BODY = 1024 * 1024
#: Failures of a backing service: 503 `unavailable`, nothing was changed, a retry is safe.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    RedisError,
    asyncpg.PostgresConnectionError,
    # deadlock_detected / serialization_failure: nothing was changed, a retry is safe
    asyncpg.exceptions.TransactionRollbackError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
)
#: The Idempotency-Key header as a handler parameter, for the document: the value is read with
#: `idempotency_key` (the same check on the lanes and the router).
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=128,
        description="same key and body → the same answer; another body → 409",
    ),
]


class ErrorBody(Out):
    """Every refusal's body (some add fields, such as `rejected`)."""

    code: str
    detail: str


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}
_JSON = (b"content-type", b"application/json")


def refusal(exc: BaseException, scope: Any) -> GatewayError:
    """The answer (status, body, headers) a client gets for `exc`, raised while serving `scope`;
    failures of a backing service and unexpected errors are logged here."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, ValidationException):
        if exc.status_code == 413:
            return TooLarge("the body is over 1 MiB")
        return InvalidRequest(_validation_detail(exc))
    if isinstance(exc, HTTPException):
        status = exc.status_code
        code = _HTTP_CODES.get(status, "invalid_request" if status < 500 else "unavailable")
        return GatewayError(str(exc.detail), code=code, status=status)
    if isinstance(exc, RecursionError):  # JSON nested thousands deep, before any decoder
        return InvalidRequest("body: JSON nested too deeply")
    if isinstance(exc, UNAVAILABLE_ERRORS):
        log.warning("backing service unavailable: %r", exc)
        return Unavailable("a backing service is unavailable, retry shortly")
    log.exception("unexpected error on %s %s", scope["method"], scope["path"], exc_info=exc)
    return GatewayError("unexpected error; it has been logged", code="internal_error", status=500)


def _validation_detail(exc: ValidationException) -> str:
    problems = exc.extra if isinstance(exc.extra, list) else []
    parts = []
    for problem in problems:
        if isinstance(problem, dict):
            key = str(problem.get("key") or "body").removeprefix("$.")
            parts.append(f"{key}: {problem.get('message', 'invalid')}")
    return "; ".join(parts) or str(exc.detail)


async def read_body(receive: Receive) -> bytes:
    """The request body, refusing more than 1 MiB (413) without buffering it all."""
    message: Any = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        if len(body) > MAX_BODY:
            raise TooLarge("the body is over 1 MiB")
        return body
    chunks, size = [body], len(body)
    while message.get("more_body"):
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise TooLarge("the body is over 1 MiB")
        chunks.append(chunk)
    return b"".join(chunks)


def header(scope: Any, name: bytes) -> bytes | None:
    """The first value of header `name` (lower case), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def check_idempotency_key(key: str | None) -> str | None:
    """An Idempotency-Key header's value, refused (400) unless 1..128 printable ASCII."""
    if key is not None and not (1 <= len(key) <= 128 and key.isascii() and key.isprintable()):
        raise InvalidRequest("Idempotency-Key: must be 1..128 printable ASCII characters")
    return key


def idempotency_key(scope: Any) -> str | None:
    """The request's Idempotency-Key (checked), or None without one."""
    value = header(scope, b"idempotency-key")
    return None if value is None else check_idempotency_key(value.decode("latin-1"))


async def send_json(
    send: Send, status: int, payload: bytes, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """Sends a complete JSON response: `payload` is the encoded body."""
    start: Any = {
        "type": "http.response.start",
        "status": status,
        "headers": [_JSON, (b"content-length", str(len(payload)).encode()), *headers],
    }
    await send(start)
    body: Any = {"type": "http.response.body", "body": payload}
    await send(body)


def json_response(answer: tuple[int, bytes]) -> Response[Any]:
    """A lane's (status, payload) as a Litestar response: how a typed handler serves it."""
    status, payload = answer
    return Response(
        payload,
        status_code=status,
        media_type="application/json",
    )


async def send_error(send: Send, error: GatewayError) -> None:
    """Sends `error` as its `{"code", "detail", ...}` body with its status and headers."""
    headers = ((k.lower().encode(), v.encode()) for k, v in error.headers().items())
    await send_json(send, error.status, msgspec.json.encode(error.body()), headers)


class StatusSend:
    """An ASGI `send` that remembers the status it sent (0 until the response starts), for the
    metrics and to know whether an error can still be answered."""

    __slots__ = ("send", "status")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self.send(message)
