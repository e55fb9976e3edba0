"""The API's dict and list answers written by json.dumps (faces/fast_json.py): the same bytes and status as
FastAPI's own answer, FastAPI's encoder never walked for them, and what json.dumps refuses still answered as
FastAPI would."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations (the dependency is local).
import datetime as dt
from typing import Annotated

import fastapi.routing
import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient
from starlette.responses import JSONResponse, PlainTextResponse

from sportello.domain import State
from sportello.faces.fast_json import FastJSONRoute, render

VALUE = {
    "sessions": [{"session_id": "ab" * 16, "question": "Quanto costa? «è» 😀", "waited_s": 12.5, "urgent": False}],
    "status": State.WAITING,
    "none": None,
    "pair": (1, 2),
    "n": 3,
}


def client(route_class) -> TestClient:
    router = APIRouter(route_class=route_class)

    def upper_name(name: str = "anna") -> str:
        return name.upper()

    @router.get("/value")
    def value(who: Annotated[str, Depends(upper_name)], n: int = 1):
        return {**VALUE, "who": who, "n": n}

    @router.post("/made", status_code=201)
    async def made():
        return [1, "due"]

    @router.get("/when")
    def when():
        return {"at": dt.datetime(2026, 12, 6, 9, 30)}  # not JSON: FastAPI's encoder

    @router.get("/text")
    def text():
        return PlainTextResponse("ciao")

    app = FastAPI()
    app.include_router(router)
    return TestClient(app)


def test_the_same_bytes_and_status_as_fastapis_own_answer(monkeypatch):
    plain, fast = client(fastapi.routing.APIRoute), client(FastJSONRoute)
    for method, path in (("get", "/value?name=bea&n=4"), ("post", "/made"), ("get", "/when"), ("get", "/text")):
        a, b = getattr(plain, method)(path), getattr(fast, method)(path)
        assert (a.status_code, a.headers["content-type"], a.content) == (
            b.status_code,
            b.headers["content-type"],
            b.content,
        ), path
    assert fast.post("/made").status_code == 201
    assert fast.get("/value?name=bea&n=4").json()["who"] == "BEA"  # the dependencies and parameters as before
    assert fast.get("/when").json() == {"at": "2026-12-06T09:30:00"}
    assert render(VALUE) == JSONResponse(VALUE).body


def test_a_dict_answer_is_not_walked_by_fastapis_encoder(monkeypatch):
    fast = client(FastJSONRoute)

    def refuse(*args, **kwargs):
        raise AssertionError("jsonable_encoder called")

    monkeypatch.setattr(fastapi.routing, "jsonable_encoder", refuse)
    assert fast.get("/value").json()["sessions"][0]["waited_s"] == 12.5
    assert fast.post("/made").json() == [1, "due"]
    with pytest.raises(AssertionError, match="jsonable_encoder called"):
        fast.get("/when")  # (only what json.dumps refuses goes to it)
