"""The API's JSON answers written by the standard library's C encoder, not FastAPI's `jsonable_encoder`.

A path operation that returns a dict or a list (no response model) has FastAPI walk it with `jsonable_encoder`,
pure Python that checks every value's type: 250 ms for the operators' queue of 2,000 chats on the loaded
machine of issue 21, where `json.dumps` takes 30 ms (bench/visitor_load.py polls it several times a second).
The services here return only what JSON has (str, numbers, bools, None, dicts and lists; times as ISO
strings), so `FastJSONRoute` writes them at once, with the same bytes and the route's status code as FastAPI's
own answer (Starlette's `JSONResponse`: UTF-8, compact, no NaN). Anything `json.dumps` refuses goes to
FastAPI's encoder as before; a `Response` passes as it is.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from starlette.responses import Response


def render(value: Any) -> bytes | None:
    """`value` as Starlette's `JSONResponse` writes it, or None when the encoder refuses it."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()
    except (TypeError, ValueError):
        return None


def _answer(value: Any, status_code: int) -> Any:
    if isinstance(value, dict | list):
        body = render(value)
        if body is not None:
            return Response(body, status_code=status_code, media_type="application/json")
    return value  # FastAPI's way


def _fast(endpoint: Callable, status_code: int) -> Callable:
    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def answer_async(*args, **kwargs):
            return _answer(await endpoint(*args, **kwargs), status_code)

        return answer_async

    @functools.wraps(endpoint)  # (the signature FastAPI reads the parameters from is the endpoint's)
    def answer(*args, **kwargs):
        return _answer(endpoint(*args, **kwargs), status_code)

    return answer


class FastJSONRoute(APIRoute):
    """A route whose dict or list answer is written by `json.dumps` (`APIRouter(route_class=FastJSONRoute)`)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _fast(endpoint, kwargs.get("status_code") or 200), **kwargs)
