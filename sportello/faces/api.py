"""The HTTP API (FastAPI). Endpoints parse input and call the service layer;
no business rule lives here.

Errors are JSON: `{"error": {"code": "...", "message": "..."}}` with a 4xx
status.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints'
# annotations, and `Operator` below is local to create_router.
import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from sportello.domain import Conflict, DomainError, Forbidden, NotFound, RateLimited, Unauthorized, ValidationError
from sportello.domain.validation import check_characters, check_json, validate_int
from sportello.faces.bearer import bearer_of
from sportello.faces.body_limit import BodyLimit
from sportello.faces.client_address import client_address, trust_proxies
from sportello.faces.console_stream import console_router
from sportello.faces.fast_json import FastJSONRoute
from sportello.faces.metrics import install_metrics
from sportello.faces.storage_full import DISK_FULL, RETRY_AFTER_S, is_disk_full
from sportello.faces.stream import stream_router
from sportello.faces.ticket_page import create_ticket_router
from sportello.faces.widget import EmbedHeaders, create_widget_router
from sportello.runtime import Runtime
from sportello.services.chat import Started
from sportello.services.operators import SESSION_COOKIE

log = logging.getLogger("sportello.api")


class UnsupportedMediaType(ValidationError):
    """A request body not declared as JSON (HTTP 415)."""


class BodyTooLarge(ValidationError):
    """A request body over MAX_BODY_BYTES (HTTP 413; see faces/body_limit.py)."""


# The HTTP status of each domain error: the only place that knows HTTP. The
# most specific class of an error wins; a DomainError not listed is a 400.
HTTP_STATUS: dict[type[DomainError], int] = {
    UnsupportedMediaType: 415,
    BodyTooLarge: 413,
    RateLimited: 429,
    ValidationError: 422,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    DomainError: 400,
}


def http_status(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 400


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


# ---------------------------------------------------------------- dependencies
def is_json_type(content_type: str) -> bool:
    """application/json, application/*+json, with any parameters; or no type at all."""
    mime = content_type.partition(";")[0].strip().lower()
    return not mime or mime == "application/json" or (mime.startswith("application/") and mime.endswith("+json"))


async def json_body(request: Request) -> dict[str, Any]:
    """The request body as a JSON object ({} when empty).

    The body must be UTF-8 JSON declared as such (a body without a content type
    is read as JSON too); its strings may hold no NUL and no lone surrogate, and
    it may nest at most MAX_JSON_DEPTH deep. The size limit is enforced while it
    streams in, by `BodyLimit`; the check here is the backstop.
    """
    settings = getattr(request.app.state, "settings", None)
    max_bytes = getattr(settings, "max_body_bytes", 64 * 1024)
    raw = await request.body()
    if max_bytes > 0 and len(raw) > max_bytes:
        raise BodyTooLarge(f"request body too large (limit {max_bytes} bytes)", code="body_too_large")
    if not raw.strip():
        return {}
    content_type = request.headers.get("content-type", "")
    if not is_json_type(content_type):
        raise UnsupportedMediaType(
            f"the body must be application/json, not {content_type[:60]}", code="unsupported_media_type"
        )
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValidationError("body must be UTF-8 JSON", code="invalid_json") from None
    except RecursionError:
        raise ValidationError("body JSON is nested too deeply", code="invalid_json") from None
    except ValueError:
        raise ValidationError("body must be JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ValidationError("body must be a JSON object", code="invalid_json")
    check_json(data, getattr(settings, "max_json_depth", 32))
    return data


async def clean_params(request: Request) -> None:
    """Path and query parameters hold no NUL and no lone surrogate (router-wide)."""
    for name, value in (*request.path_params.items(), *request.query_params.multi_items()):
        check_characters(str(value), name)


async def bearer_token(authorization: Annotated[str, Header()] = "") -> str:
    """The operator's token from `Authorization: Bearer <token>`."""
    token = bearer_of(authorization)
    if not token:
        raise Unauthorized("Authorization: Bearer <token> required", code="missing_token")
    return token


async def visitor_token(x_session_token: Annotated[str, Header()] = "") -> str:
    """The visitor's session token from `X-Session-Token`."""
    if not x_session_token:
        raise Unauthorized("X-Session-Token header required", code="missing_session_token")
    return x_session_token


Body = Annotated[dict[str, Any], Depends(json_body)]
VisitorToken = Annotated[str, Depends(visitor_token)]


def _int(value: Any, name: str, default: int | None = None) -> int:
    """A non-negative 32-bit integer (a JSON number or a decimal string), or `default` when absent."""
    if value is None or value == "":
        if default is None:
            raise ValidationError(f"{name} is required", code=f"missing_{name}")
        return default
    return validate_int(value, name)


def _text(data: dict, name: str, default: str | None = "") -> str | None:
    """An optional string field: `default` when absent or null, a 422 when not a string."""
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string", code=f"invalid_{name}")
    return value


def _str(data: dict, name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{name} is required", code=f"missing_{name}")
    return value


NOSNIFF = (b"x-content-type-options", b"nosniff")
NO_FRAMING = ((b"x-frame-options", b"DENY"), (b"content-security-policy", b"frame-ancestors 'none'"))


class SecurityHeaders:
    """Pure ASGI middleware: `X-Content-Type-Options: nosniff` on every answer, and no framing of the
    API (`/api/*`, its docs included). The visitor page at `/` stays embeddable (README "Visitor page")."""

    def __init__(self, app, no_framing_prefix: str = "/api/"):
        self.app = app
        self.prefix = no_framing_prefix

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = [NOSNIFF, *(NO_FRAMING if scope["path"].startswith(self.prefix) else ())]

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {name for name, _ in added}
                kept = [(k, v) for k, v in message.get("headers") or () if k.lower() not in names]
                message = {**message, "headers": [*kept, *added]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class StorageFullAnswer:
    """Pure ASGI middleware: a write refused because the disk is full (faces/storage_full.py) is answered
    507 `storage_full` with a bilingual message and Retry-After (its transaction was rolled back: nothing
    stored, nothing acknowledged), on every route, instead of a plain 500 that drops the connection. Any
    other error goes on to the server's 500."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started or not is_disk_full(exc):
                raise
            log.error("%s %s refused: the disk is full (%s)", scope.get("method"), scope["path"], exc)
            response = error_response(507, "storage_full", DISK_FULL)
            response.headers["Retry-After"] = str(RETRY_AFTER_S)
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_request: Request, exc: DomainError):
        response = error_response(http_status(exc), exc.code, exc.message)
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after_s)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError):
        return error_response(422, "invalid_input", str(exc.errors()[:3]))


OPERATOR_POST_ACTIONS = {
    "set_status",
    "heartbeat",
    "take_chat",
    "send_message",
    "release_chat",
    "transfer_chat",
    "add_note",
    "typing",
}
OPERATOR_PUT_ACTIONS = {"release_chat", "set_status"}


# Messages streamed at once (?stream=1), each on a thread of its own pool: the visitor page sends every message
# this way, and a thread mostly waits on the LLM (32 made 32 answers a second, at 1 s each, the ceiling of the page).
STREAM_WORKERS = 256


def sse(event: str, data: Any) -> bytes:
    """One server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def event_of(item: str | dict | Started) -> bytes:
    """One item of a visitor message's stream (`ChatService.visitor_message_stream`, `start_with_message_stream`)
    as its event: a piece of the answer (`chunk`), the new chat (`session`), the result (`message`)."""
    if isinstance(item, str):
        return sse("chunk", {"text": item})
    if isinstance(item, Started):
        return sse("session", asdict(item))
    return sse("message", item)


def stream_error(exc: Exception) -> dict:
    """An error once a streamed answer has begun (the status is sent already): as an `error` event."""
    if isinstance(exc, DomainError):
        return {"error": {"code": exc.code, "message": exc.message}, "status": http_status(exc)}
    if is_disk_full(exc):
        return {"error": {"code": "storage_full", "message": DISK_FULL}, "status": 507}
    log.error("streamed message failed", exc_info=exc)
    return {"error": {"code": "internal_error", "message": "internal error"}, "status": 500}


def create_router(runtime: Runtime) -> APIRouter:
    """The endpoints. Sync endpoints and dependencies run in the thread pool;
    dependencies are resolved in the order they are declared (the body is
    parsed before the token is checked where it was so before)."""
    chat = runtime.chat
    operators = runtime.operators
    tickets = runtime.tickets
    # dict and list answers written by json.dumps, not jsonable_encoder (faces/fast_json.py)
    router = APIRouter(prefix="/api", dependencies=[Depends(clean_params)], route_class=FastJSONRoute)

    def current_operator(token: Annotated[str, Depends(bearer_token)]) -> dict:
        """The operator the bearer token belongs to (refreshes the heartbeat)."""
        return operators.authenticate(token)

    Operator = Annotated[dict, Depends(current_operator)]

    # ---------------------------------------------------------------- health
    @router.get("/health")
    def health(authorization: Annotated[str, Header()] = ""):
        """200 when every check passes, else 503 with the failing checks named. Figures only;
        an operator's bearer token adds the outbox details (sink, target, last error)."""
        report = runtime.health.report()
        token = bearer_of(authorization)
        if token:
            try:
                operators.authenticate(token, touch=False)
                report |= runtime.health.details()
            except DomainError:
                pass
        return JSONResponse(report, status_code=200 if report["ok"] else 503)

    # ---------------------------------------------------------------- auth
    @router.post("/auth/login")
    def login(data: Body, request: Request):
        token, op = operators.login(_text(data, "username"), _text(data, "password"), client=client_address(request))
        return {"token": token, "operator": op}

    @router.post("/auth/logout")
    def logout(_op: Operator, token: Annotated[str, Depends(bearer_token)]):
        operators.logout(token)
        return {"ok": True}

    # The dashboard's sign-in cookie (Streamlit cannot set cookies): the signed-in console posts its
    # token here once (Authorization: Bearer), "Esci" deletes it. HttpOnly and SameSite=Strict; the API
    # itself never reads it (only bearer tokens), so it opens no cross-site request.
    @router.post("/auth/cookie")
    def cookie_set(op: Operator, request: Request, token: Annotated[str, Depends(bearer_token)]):
        response = JSONResponse({"ok": True, "operator": op["username"]})
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=int(runtime.settings.token_ttl_s),
            path="/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return response

    @router.delete("/auth/cookie")
    def cookie_clear(request: Request):
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            operators.logout(token)  # revoked, not only forgotten by this browser
        response = JSONResponse({"ok": True})
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    # ---------------------------------------------------------------- operators
    @router.get("/operators")
    def operators_get(op: Operator, action: str = "", session_id: str = "", after: str = "0", ticket_id: str = ""):
        if action == "status":
            return chat.view.operator_status()
        if action == "pending_sessions":
            return {"sessions": runtime.console_versions.pending_sessions()}
        if action == "chat_messages":
            if not session_id:
                raise ValidationError("session_id is required", code="missing_session_id")
            return chat.view.operator_messages(session_id, _int(after, "after", 0), viewer=op)
        if action == "my_chats":
            return {"chats": chat.view.operator_chats(op["id"])}
        if action == "me":
            return {"operator": op}
        if action == "notes":
            if session_id:
                return {"notes": runtime.notes.list(session_id=session_id)}
            return {"notes": runtime.notes.list(ticket_id=_int(ticket_id or None, "ticket_id"))}
        raise NotFound(f"unknown action '{action}' for GET", code="unknown_action")

    def operators_action(method: str, action: str, allowed: set[str], op: dict, data: dict):
        if action not in allowed:
            raise NotFound(f"unknown action '{action}' for {method}", code="unknown_action")
        if action == "set_status":
            return {"operator": operators.set_status(op["id"], _text(data, "status"))}
        if action == "heartbeat":
            operators.heartbeat(op["id"])
            return {"ok": True}
        if action == "take_chat":
            return chat.take_chat(op["id"], _str(data, "session_id"))
        if action == "send_message":
            return chat.operator_send(op["id"], _str(data, "session_id"), data.get("text"))
        if action == "release_chat":
            return chat.release_chat(op["id"], _str(data, "session_id"), _text(data, "resolution_reason"))
        if action == "typing":  # the visitor's page shows "typing..." for a few seconds
            return chat.operator_typing(op["id"], _str(data, "session_id"))
        if action == "transfer_chat":
            return chat.transfer_chat(
                op["id"], _str(data, "session_id"), _int(data.get("to_operator_id"), "to_operator_id")
            )
        if action == "add_note":
            ticket = data.get("ticket_id")
            return {
                "note": runtime.notes.add(
                    op["id"],
                    data.get("text"),
                    session_id=_text(data, "session_id", None) or None,
                    ticket_id=_int(ticket, "ticket_id") if ticket is not None else None,
                )
            }
        raise NotFound(f"unknown action '{action}'", code="unknown_action")  # pragma: no cover

    @router.post("/operators")
    def operators_post(data: Body, op: Operator, action: str = ""):
        return operators_action("POST", action, OPERATOR_POST_ACTIONS, op, data)

    @router.put("/operators")
    def operators_put(data: Body, op: Operator, action: str = ""):
        return operators_action("PUT", action, OPERATOR_PUT_ACTIONS, op, data)

    # ---------------------------------------------------------------- tickets
    @router.get("/tickets")
    def tickets_list(
        op: Operator, status: str = "", session_id: str = "", q: str = "", limit: str = "100", offset: str = "0"
    ):
        """Contacts are masked for operators who are not admins (as in the dashboard's list)."""
        found = tickets.search(
            status=status or None,
            session_id=session_id or None,
            q=q or None,
            limit=_int(limit, "limit", 100),
            offset=_int(offset, "offset", 0),
            viewer=op,
        )
        return {"tickets": found}

    @router.get("/tickets/{ticket_id}")
    def ticket_get(op: Operator, ticket_id: str):
        return {"ticket": tickets.get(_int(ticket_id, "ticket_id"), viewer=op)}

    @router.patch("/tickets/{ticket_id}")
    def ticket_patch(data: Body, op: Operator, ticket_id: str):
        assigned = data.get("assigned_to")
        ticket = tickets.update(
            _int(ticket_id, "ticket_id"),
            status=_text(data, "status", None),
            append_note=_text(data, "note", None),
            assigned_to=_int(assigned, "assigned_to") if assigned is not None else None,
            author=op["display_name"],
        )
        return {"ticket": ticket}

    # ---------------------------------------------------------------- ticket replies by email
    @router.post("/tickets/{ticket_id}/replies", status_code=201)
    def ticket_reply(data: Body, op: Operator, ticket_id: str):
        return runtime.ticket_replies.reply(_int(ticket_id, "ticket_id"), op, data.get("text"))

    @router.get("/tickets/{ticket_id}/replies")
    def ticket_replies(op: Operator, ticket_id: str):
        return {"replies": runtime.ticket_replies.list(_int(ticket_id, "ticket_id"))}

    # ---------------------------------------------------------------- ticket calls
    @router.post("/tickets/{ticket_id}/calls", status_code=201)
    def ticket_call_post(data: Body, op: Operator, ticket_id: str):
        """Log a call back: {"outcome": "reached|no_answer|left_message", "note"?, "next_attempt_at"?}."""
        out = runtime.callbacks.log_call(
            _int(ticket_id, "ticket_id"), op, data.get("outcome"), data.get("note"), data.get("next_attempt_at")
        )
        return {"call": out["call"], "ticket": tickets.for_viewer([out["ticket"]], op)[0]}

    @router.get("/tickets/{ticket_id}/calls")
    def ticket_calls_get(op: Operator, ticket_id: str):
        return {"calls": runtime.callbacks.calls(_int(ticket_id, "ticket_id"), viewer=op)}

    # ---------------------------------------------------------------- visitors
    @router.post("/chat/sessions")
    async def chat_start(data: Body, request: Request, user_agent: Annotated[str, Header()] = "", stream: str = ""):
        """A new chat. With `text`, its first message too, in the same request and the same write (what
        `POST .../messages` returns, with the session's id and token, its messages from the greeting on);
        with `?stream=1` as well, text/event-stream: first `session` {session_id, token, language} (the chat
        may be kept from then on), then as `POST .../messages?stream=1`."""
        ua = data.get("user_agent") or user_agent
        if not isinstance(ua, str):
            raise ValidationError("user_agent must be a string", code="invalid_user_agent")
        language, client = _text(data, "language") or "it", client_address(request)
        if "text" not in data:
            return await run_in_threadpool(chat.start_session, language, ua, client=client)
        if stream not in ("1", "true"):
            return await run_in_threadpool(chat.start_with_message, language, ua, data.get("text"), client=client)
        return await streamed(lambda: chat.start_with_message_stream(language, ua, data.get("text"), client=client))

    @router.post("/chat/sessions/{session_id}/messages")
    async def chat_message(token: VisitorToken, data: Body, session_id: str, request: Request, stream: str = ""):
        """The visitor's message; the result once it is stored. With `?stream=1`, text/event-stream: the
        AI's answer as it is written (`chunk` events, provisional), then the result (`message`)."""
        client = client_address(request)
        if stream not in ("1", "true"):
            return await run_in_threadpool(chat.visitor_message, session_id, token, data.get("text"), client=client)
        return await streamed(lambda: chat.visitor_message_stream(session_id, token, data.get("text"), client=client))

    # ---------------------------------------------------------------- the streamed message (?stream=1)
    # Each streamed message runs in a thread of its own pool (never the server's shared one, which the
    # polls use), to its end even when the client leaves: the message and the answer are stored as
    # without streaming. The events: `chunk` {"text"} (the answer so far, in pieces; provisional),
    # `message` (what POST returns without ?stream), or `error` {"error": {code, message}, "status"}; a new
    # chat's first message (POST /chat/sessions with `text`) begins with `session` {session_id, token, language}.
    stream_pool = ThreadPoolExecutor(max_workers=STREAM_WORKERS, thread_name_prefix="api-stream")

    async def streamed(items_of: Callable[[], Iterator[Any]]):
        """The service's stream (`items_of()`, run in `stream_pool`) as a text/event-stream response."""
        loop = asyncio.get_running_loop()
        items: asyncio.Queue = asyncio.Queue()

        def put(kind: str, item: Any) -> None:
            try:
                loop.call_soon_threadsafe(items.put_nowait, (kind, item))
            except RuntimeError:  # the server stopped meanwhile: nobody reads
                pass

        def pump() -> None:
            try:
                for item in items_of():
                    put("item", item)
            except Exception as exc:  # noqa: BLE001 (passed on to the response)
                put("error", exc)
            finally:
                put("end", None)

        stream_pool.submit(pump)
        kind, first = await items.get()
        if kind == "error":
            raise first  # before anything was sent: the usual JSON error (exception handlers, 507 on a full disk)

        async def events():
            kind, item = "item", first
            while kind != "end":
                if kind == "item":
                    yield event_of(item)
                else:
                    yield sse("error", stream_error(item))
                kind, item = await items.get()

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )

    @router.get("/chat/sessions/{session_id}/messages")
    def chat_poll(token: VisitorToken, session_id: str, after: str = "0"):
        return chat.view.visitor_poll(session_id, token, _int(after, "after", 0))

    @router.post("/chat/sessions/{session_id}/operator")
    def chat_operator(token: VisitorToken, data: Body, session_id: str):
        return chat.answer_offer(session_id, token, data.get("accept"))

    @router.post("/chat/sessions/{session_id}/contact")
    def chat_contact(token: VisitorToken, data: Body, session_id: str):
        return chat.submit_contact(session_id, token, data.get("method") or "", data.get("value") or "")

    @router.post("/chat/sessions/{session_id}/rating")
    def chat_rating(token: VisitorToken, data: Body, session_id: str):
        return runtime.feedback.rate(session_id, token, data.get("score"), data.get("comment"))

    @router.get("/chat/sessions/{session_id}/rating")
    def chat_rating_get(token: VisitorToken, session_id: str):
        return runtime.feedback.can_rate(session_id, token)

    @router.get("/chat/hours")
    def chat_hours(language: str = "it"):
        return runtime.chat.opening_status(language)

    @router.post("/chat/sessions/{session_id}/language")
    def chat_language(token: VisitorToken, data: Body, session_id: str):
        return chat.set_language(session_id, token, data.get("language") or "")

    return router


def create_api(runtime: Runtime) -> FastAPI:
    """A FastAPI app with the API only (the Gradio page is mounted by app.py)."""
    app = FastAPI(title="Sportello API", docs_url="/api/docs", openapi_url="/api/openapi.json", redoc_url=None)
    app.state.settings = runtime.settings
    install_error_handlers(app)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException):
        return error_response(exc.status_code, "http_error", str(exc.detail))

    app.include_router(create_router(runtime))
    # The visitor's ticket page and its JSON, before the Gradio page app.py mounts at /.
    app.include_router(create_ticket_router(runtime.ticket_replies, json_body, runtime.settings))
    app.include_router(stream_router(runtime))  # GET /api/chat/sessions/{id}/stream (Server-Sent Events)
    app.include_router(console_router(runtime))  # GET /api/operators/console: the Live page's long poll
    app.include_router(create_widget_router(runtime.settings))  # GET /widget.js: the venue's embed snippet
    # Bodies over MAX_BODY_BYTES are cut while they stream in (413), not read whole first, and a body not
    # whole within BODY_READ_TIMEOUT_S is refused (408): on every route of this app, the API and the visitor
    # page's Gradio routes that app.py mounts on it.
    s = runtime.settings
    app.add_middleware(StorageFullAnswer)
    app.add_middleware(BodyLimit, max_bytes=s.max_body_bytes, prefix="/", read_timeout_s=s.body_read_timeout_s)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(EmbedHeaders, origins=s.embed_origins)  # which sites may frame the visitor page
    # The client's address (the key of the per-client limits): see faces/client_address.py.
    trust_proxies(app, runtime.settings.trusted_proxies)
    if runtime.settings.cors_origins:
        # A venue's own site on another domain may drive the visitor API.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(runtime.settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-Session-Token"],
        )
    install_metrics(app, runtime)  # GET /metrics, and the request id and timing of every request (outermost)
    return app
