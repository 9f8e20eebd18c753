"""What one request to `fashiongan serve` may cost the server, and reading a body within it: no
request, however it is framed (Content-Length or chunked), paced or compressed, makes the server hold
more bytes, time or decoded values than the largest request its --max-rows admits. Each limit broken
is a Refused: an HTTP status and one line naming it, answered before MLflow sees the request."""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

# A body may hold twice the numbers of its rows' z and label (room for an index column or keys MLflow
# ignores), each up to 32 bytes of JSON (a float64 at full precision takes 20-24 characters with its
# separator): anything larger is refused before it is read or decoded.
ROOM, BYTES_PER_NUMBER, BYTES_OF_STRUCTURE = 2, 32, 4096
# Decoded, a Parquet value is a float64 or int64 (8 bytes); its repetition and definition levels and
# the page headers take less than as much again.
DECODED_BYTES_PER_VALUE = 16
# The largest body of the default --max-rows (1,024 rows of latent_dim 100: 6.6 MB) arrives in 30 s
# at 2 Mbit/s; a slower sender only holds a connection and its buffer open.
BODY_SECONDS = 30
# The largest integer a request needs is a seed or n, MLflow's long param: an int64, at most 19 digits.
# (Python would convert up to 4,300, in time quadratic in the digits.)
MAX_INT_DIGITS = 19
# Nesting depth needs no constant of its own: json's scanner stops at Python's recursion limit (1,000
# levels) with a RecursionError, and a request nests 4 deep ({"inputs": {"z": [[...]]}}).


class Refused(Exception):
    """A request the server answers itself: an HTTP status and one line naming the culprit."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


class Disconnected(Exception):
    """The client went away before its body was complete: there is no one to answer."""


async def read_body(receive, limit: int, too_large) -> bytes:
    """The body of an ASGI request from `receive`, whatever its framing: too_large(bytes so far,
    "bytes", limit) is raised once it grows past `limit` bytes, a 408 when it is not complete within
    BODY_SECONDS."""
    chunks, size = [], 0
    try:
        async with asyncio.timeout(BODY_SECONDS):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise Disconnected
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise too_large(size, "bytes", limit)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
    except TimeoutError:
        raise Refused(
            HTTPStatus.REQUEST_TIMEOUT,
            f"body: {size} bytes in {BODY_SECONDS} s and not complete; send a body within {BODY_SECONDS} s",
        ) from None


def _integer(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(digits.lstrip('-'))} digits, over {MAX_INT_DIGITS}")
    return int(digits)


def parse_json(body: bytes, example: str):
    """A JSON body read within MAX_INT_DIGITS and Python's nesting limit, or a 400 saying why not."""
    try:
        return json.loads(body, parse_int=_integer)
    except (ValueError, RecursionError) as e:
        if isinstance(e, json.JSONDecodeError):
            why = e.msg
        elif isinstance(e, UnicodeDecodeError):
            why = "not UTF-8"
        elif isinstance(e, RecursionError):  # arrays or objects nested deeper than the recursion limit
            why = "nested too deeply"
        else:  # _integer's
            why = str(e)
        raise Refused(HTTPStatus.BAD_REQUEST, f"body: not JSON ({why}); expected {example}") from None


def parquet_footer(metadata, max_values: int, too_large) -> None:
    """Parquet compresses: the footer's counts bound the decoded data before any of it is read. Raises
    too_large(count, unit, limit) for more values than `max_values`, or more decoded bytes than they
    take (a few values can be long strings)."""
    chunks = [
        metadata.row_group(g).column(c)
        for g in range(metadata.num_row_groups)
        for c in range(metadata.num_columns)
    ]
    values = sum(chunk.num_values for chunk in chunks)
    if values > max_values:
        raise too_large(values, "values", max_values)
    decoded = sum(chunk.total_uncompressed_size for chunk in chunks)
    if decoded > max_values * DECODED_BYTES_PER_VALUE:
        raise too_large(decoded, "bytes decompressed", max_values * DECODED_BYTES_PER_VALUE)


def _replay(body: bytes, receive):
    """An ASGI receive that hands out the body already read as one message, then defers to `receive`."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed():
        return pending.pop() if pending else await receive()

    return replayed


class Guarded:
    """MLflow's app behind a guard: each POST /invocations is read within these limits and checked
    by `check` (serve.RequestCheck: the model's contract) before MLflow sees it, then handed on as read.
    A plain ASGI app: Starlette's middleware for this would cost a task and a copy per request."""

    def __init__(self, app, check):
        self.app, self.check = app, check

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/invocations" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        try:
            media_type = self.check.headers(headers.get("content-type"), headers.get("content-length"))
            body = await read_body(receive, self.check.max_bytes, self.check.too_large)
            # off the event loop, as MLflow runs predict: a large body takes tens of ms to check
            await asyncio.to_thread(self.check.body, media_type, body)
        except Refused as e:
            answer = JSONResponse({"error_code": e.status.name, "message": str(e)}, status_code=e.status)
            return await answer(scope, receive, send)
        except Disconnected:
            return None
        return await self.app(scope, _replay(body, receive), send)
