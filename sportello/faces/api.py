"""The HTTP API (FastAPI). Endpoints parse input and call the service layer;
no business rule lives here.

Errors are JSON: `{"error": {"code": "...", "message": "..."}}` with a 4xx
status.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from sportello.domain import DomainError, NotFound, Unauthorized, ValidationError
from sportello.runtime import Runtime
from sportello.services import operators as ops
from sportello.services import tickets

MAX_BODY = 64 * 1024


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ValidationError("request body too large", code="body_too_large")
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("body must be JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ValidationError("body must be a JSON object", code="invalid_json")
    return data


def _int(value: Any, name: str, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise ValidationError(f"{name} is required", code=f"missing_{name}")
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must be an integer", code=f"invalid_{name}") from None


def _str(data: dict, name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{name} is required", code=f"missing_{name}")
    return value


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_request: Request, exc: DomainError):
        return error_response(exc.status_code, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError):
        return error_response(422, "invalid_input", str(exc.errors()[:3]))


def create_router(runtime: Runtime) -> APIRouter:
    service = runtime.service
    store = runtime.store
    settings = runtime.settings
    router = APIRouter(prefix="/api")

    def operator_from(request: Request) -> dict:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization: Bearer <token> required", code="missing_token")
        return ops.authenticate(store, token.strip())

    def visitor_token(request: Request) -> str:
        token = request.headers.get("x-session-token", "")
        if not token:
            raise Unauthorized("X-Session-Token header required", code="missing_session_token")
        return token

    # ---------------------------------------------------------------- health
    @router.get("/health")
    def health():
        return {"ok": True, "outbox": runtime.worker.status()}

    # ---------------------------------------------------------------- auth
    @router.post("/auth/login")
    async def login(request: Request):
        data = await _body(request)
        token, op = await run_in_threadpool(
            ops.login, store, data.get("username") or "", data.get("password") or "", settings.token_ttl_s
        )
        return {"token": token, "operator": op}

    @router.post("/auth/logout")
    def logout(request: Request):
        operator_from(request)
        ops.logout(store, request.headers["authorization"].partition(" ")[2].strip())
        return {"ok": True}

    # ---------------------------------------------------------------- operators
    @router.get("/operators")
    def operators_get(request: Request, action: str = "", session_id: str = "", after: str = "0"):
        op = operator_from(request)
        if action == "status":
            return service.operator_status()
        if action == "pending_sessions":
            return {"sessions": service.pending_sessions()}
        if action == "chat_messages":
            if not session_id:
                raise ValidationError("session_id is required", code="missing_session_id")
            return service.operator_messages(op["id"], session_id, _int(after, "after", 0))
        if action == "my_chats":
            return {"chats": service.operator_chats(op["id"])}
        if action == "me":
            return {"operator": op}
        raise NotFound(f"unknown action '{action}' for GET", code="unknown_action")

    async def _operators_write(request: Request, action: str, allowed: set[str]):
        data = await _body(request)
        return await run_in_threadpool(_operators_action, request, action, allowed, data)

    def _operators_action(request: Request, action: str, allowed: set[str], data: dict):
        op = operator_from(request)
        if action not in allowed:
            raise NotFound(f"unknown action '{action}' for {request.method}", code="unknown_action")
        if action == "set_status":
            return {"operator": ops.set_status(store, op["id"], data.get("status") or "")}
        if action == "heartbeat":
            ops.heartbeat(store, op["id"])
            return {"ok": True}
        if action == "take_chat":
            return service.take_chat(op["id"], _str(data, "session_id"))
        if action == "send_message":
            return service.operator_send(op["id"], _str(data, "session_id"), data.get("text"))
        if action == "release_chat":
            return service.release_chat(op["id"], _str(data, "session_id"), data.get("resolution_reason") or "")
        raise NotFound(f"unknown action '{action}'", code="unknown_action")  # pragma: no cover

    @router.post("/operators")
    async def operators_post(request: Request, action: str = ""):
        return await _operators_write(
            request, action, {"set_status", "heartbeat", "take_chat", "send_message", "release_chat"}
        )

    @router.put("/operators")
    async def operators_put(request: Request, action: str = ""):
        return await _operators_write(request, action, {"release_chat", "set_status"})

    # ---------------------------------------------------------------- tickets
    @router.get("/tickets")
    def tickets_list(
        request: Request, status: str = "", session_id: str = "", q: str = "", limit: str = "100", offset: str = "0"
    ):
        operator_from(request)
        found = tickets.search(
            store,
            status=status or None,
            session_id=session_id or None,
            q=q or None,
            limit=_int(limit, "limit", 100),
            offset=_int(offset, "offset", 0),
        )
        return {"tickets": found}

    @router.get("/tickets/{ticket_id}")
    def ticket_get(request: Request, ticket_id: str):
        operator_from(request)
        return {"ticket": tickets.get(store, _int(ticket_id, "ticket_id"))}

    @router.patch("/tickets/{ticket_id}")
    async def ticket_patch(request: Request, ticket_id: str):
        data = await _body(request)
        op = await run_in_threadpool(operator_from, request)
        assigned = data.get("assigned_to")
        ticket = await run_in_threadpool(
            tickets.update_ticket,
            store,
            _int(ticket_id, "ticket_id"),
            status=data.get("status"),
            append_note=data.get("note"),
            assigned_to=_int(assigned, "assigned_to") if assigned is not None else None,
            author=op["display_name"],
        )
        return {"ticket": ticket}

    # ---------------------------------------------------------------- visitors
    @router.post("/chat/sessions")
    async def chat_start(request: Request):
        data = await _body(request)
        ua = data.get("user_agent") or request.headers.get("user-agent", "")
        if not isinstance(ua, str):
            raise ValidationError("user_agent must be a string", code="invalid_user_agent")
        return await run_in_threadpool(service.start_session, data.get("language") or "it", ua)

    @router.post("/chat/sessions/{session_id}/messages")
    async def chat_message(request: Request, session_id: str):
        token = visitor_token(request)
        data = await _body(request)
        return await run_in_threadpool(service.visitor_message, session_id, token, data.get("text"))

    @router.get("/chat/sessions/{session_id}/messages")
    def chat_poll(request: Request, session_id: str, after: str = "0"):
        return service.visitor_poll(session_id, visitor_token(request), _int(after, "after", 0))

    @router.post("/chat/sessions/{session_id}/operator")
    async def chat_operator(request: Request, session_id: str):
        token = visitor_token(request)
        data = await _body(request)
        return await run_in_threadpool(service.answer_offer, session_id, token, data.get("accept"))

    @router.post("/chat/sessions/{session_id}/contact")
    async def chat_contact(request: Request, session_id: str):
        token = visitor_token(request)
        data = await _body(request)
        return await run_in_threadpool(
            service.submit_contact, session_id, token, data.get("method") or "", data.get("value") or ""
        )

    @router.post("/chat/sessions/{session_id}/language")
    async def chat_language(request: Request, session_id: str):
        token = visitor_token(request)
        data = await _body(request)
        return await run_in_threadpool(service.set_language, session_id, token, data.get("language") or "")

    return router


def create_api(runtime: Runtime) -> FastAPI:
    """A FastAPI app with the API only (the Gradio page is mounted by app.py)."""
    app = FastAPI(title="Sportello API", docs_url="/api/docs", openapi_url="/api/openapi.json", redoc_url=None)
    install_error_handlers(app)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException):
        return error_response(exc.status_code, "http_error", str(exc.detail))

    app.include_router(create_router(runtime))
    if runtime.settings.cors_origins:
        # A venue's own site on another domain may drive the visitor API.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(runtime.settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-Session-Token"],
        )
    return app
