"""Operator accounts: creation, sign-in tokens, presence and administration.

`OperatorService` is the one way in, for the faces (the API, the dashboard, the admin
CLI), the tests and the benchmarks: signing in always passes through its `LoginGuard`.
The SQL is in `sportello.store.operator_queries`; who may take a chat is the rule of
`sportello.domain.capacity`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from sqlalchemy.exc import IntegrityError

from sportello.config import Settings
from sportello.domain import Conflict, Forbidden, NotFound, OperatorStatus, Unauthorized, ValidationError
from sportello.domain import credentials as auth
from sportello.domain.capacity import OperatorLoad
from sportello.services.throttle import LoginGuard
from sportello.store import operator_queries as q
from sportello.store.database import Store

HEARTBEAT_WRITE_EVERY_S = 5.0
TOKEN_CACHE_S = 2.0
# The dashboard's sign-in survives a reload and deep links: its token also lives in this HttpOnly,
# SameSite=Strict cookie, set and cleared by the API (POST/DELETE /api/auth/cookie, faces/api.py) and
# read by the dashboard (faces/dashboard/ui.py, st.context.cookies). The token still expires (TOKEN_TTL_S)
# and "Esci" revokes it.
SESSION_COOKIE = "sportello_session"


def _username(username: str | None) -> str:
    return (username or "").strip().lower()


class OperatorService:
    """Operator accounts and presence, for the faces: the store stays inside."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        guard: LoginGuard | None = None,
    ):
        self._store = store
        self.sleep = sleep
        self.settings = settings
        self.clock = clock
        self.scrypt_n = settings.password_scrypt_n
        self.guard = guard or LoginGuard(settings)  # the runtime's is on the counters every process shares
        self._tokens: dict[str, tuple[float, dict]] = {}  # token hash -> (valid until, operator)

    # ------------------------------------------------------------ sign-in
    def login(self, username: str, password: str, *, client: str | None = None) -> tuple[str, dict]:
        """A new bearer token (valid TOKEN_TTL_S) and the operator.

        `client` is the caller's address (the API's, the dashboard's: one guard for both):
        failures lock the username from that address and the address for a while, and slow
        the username down everywhere (sportello.services.throttle.LoginGuard, RateLimited)."""
        key = _username(username)[:64]
        delay = self.guard.check(key, client)
        if delay > 0:
            self.sleep(delay)  # the same for every name: known or not, the wait tells nothing
        try:
            result = self._login(username, password)
        except Unauthorized:
            self.guard.failed(key, client)
            raise
        self.guard.succeeded(key, client)
        return result

    def _login(self, username: str, password: str) -> tuple[str, dict]:
        with self._store.read() as conn:
            row = q.by_username(conn, _username(username))
        # Same error, and the same work (one scrypt at the current cost), whether the user exists or not.
        stored = row.password_hash if row is not None else auth.dummy_hash(n=self.scrypt_n)
        if not auth.verify_password(password or "", stored) or row is None or not row.active:
            raise Unauthorized("wrong username or password", code="bad_credentials")
        token = auth.new_token()
        with self._store.write() as conn:
            if auth.needs_rehash(row.password_hash, n=self.scrypt_n):
                # An old hash (a lower cost): replaced now that the password is known.
                q.rehash(conn, row.id, row.password_hash, auth.hash_password(password, n=self.scrypt_n))
            q.add_token(conn, auth.token_hash(token), row.id, self.clock(), self.settings.token_ttl_s)
        return token, q.public(row)

    def logout(self, token: str) -> None:
        key = auth.token_hash(token or "")
        self._tokens.pop(key, None)
        with self._store.write() as conn:
            q.drop_token(conn, key)

    def authenticate(self, token: str, *, touch: bool = True) -> dict:
        """The operator a bearer token belongs to; refreshes its heartbeat unless `touch=False`.

        A token checked in the last TOKEN_CACHE_S (2 s) is not looked up again (the hot path
        of an operator's messages): a sign-out, a disabled account or a new password in this
        process takes effect at once, one made in another process within those 2 s."""
        key = auth.token_hash(token or "")
        now = time.monotonic()
        hit = self._tokens.get(key)
        if (
            hit is not None
            and hit[0] > now
            and (
                not touch
                or hit[1]["last_heartbeat"] is None
                or self.clock() - hit[1]["last_heartbeat"] <= HEARTBEAT_WRITE_EVERY_S
            )
        ):
            return dict(hit[1])
        op = self._authenticate(token, touch=touch)
        if len(self._tokens) > 10_000:
            self._tokens.clear()
        self._tokens[key] = (now + TOKEN_CACHE_S, dict(op))
        return op

    def _authenticate(self, token: str, *, touch: bool) -> dict:
        if not token:
            raise Unauthorized("missing bearer token", code="missing_token")
        now = self.clock()
        with self._store.read() as conn:
            row = q.by_token(conn, auth.token_hash(token), now)
        if row is None or not row.active:
            raise Unauthorized("invalid or expired token", code="invalid_token")
        op = q.public(row)
        if touch and (row.last_heartbeat is None or now - row.last_heartbeat > HEARTBEAT_WRITE_EVERY_S):
            self.heartbeat(row.id, now=now)
            op["last_heartbeat"] = now
        return op

    def _forget(self, operator_id: int) -> None:
        for key, (_, op) in list(self._tokens.items()):
            if op["id"] == operator_id:
                self._tokens.pop(key, None)

    # ------------------------------------------------------------ presence
    def heartbeat(self, operator_id: int, *, now: float | None = None) -> None:
        with self._store.write() as conn:
            q.change(conn, operator_id, last_heartbeat=now or self.clock())

    def set_status(self, operator_id: int, status: str) -> dict:
        try:
            status = OperatorStatus(status)
        except ValueError:
            raise ValidationError("status must be online, away or offline", code="invalid_status") from None
        try:
            with self._store.write() as conn:
                q.change(conn, operator_id, status=status, last_heartbeat=self.clock())
                return q.public(q.by_id(conn, operator_id))
        finally:
            self._forget(operator_id)

    def is_present(self, op: Mapping, now: float | None = None) -> bool:
        """Active, online, with a heartbeat younger than HEARTBEAT_TIMEOUT_S (domain/capacity.py);
        `op` as `list_operators` gives it."""
        return OperatorLoad.of(op).is_present(self.clock() if now is None else now, self.settings.heartbeat_timeout_s)

    # ------------------------------------------------------------ accounts
    def list_operators(self) -> list[dict]:
        """Every account, by username, with its number of live chats."""
        with self._store.read() as conn:
            return q.with_load(conn)

    def by_username(self, username: str) -> dict:
        username = _username(username)
        with self._store.read() as conn:
            row = q.by_username(conn, username)
        if row is None:
            raise NotFound(f"no operator '{username}'", code="unknown_operator")
        return q.public(row)

    def add(
        self,
        username: str,
        display_name: str,
        password: str,
        *,
        is_admin: bool = False,
        max_chats: int | None = None,
    ) -> dict:
        """A new account (offline until it signs in); max_chats defaults to DEFAULT_MAX_CHATS."""
        username = _username(username)
        max_chats = self.settings.default_max_chats if max_chats is None else max_chats
        if not username or len(username) > 64 or not username.replace("_", "").replace(".", "").isalnum():
            raise ValidationError("username must be letters, digits, '.' or '_'", code="invalid_username")
        if not (display_name or "").strip():
            raise ValidationError("display name is required", code="invalid_name")
        if max_chats < 1:
            raise ValidationError("max_chats must be at least 1", code="invalid_max_chats")
        password_hash = self._hash(password)
        try:
            with self._store.write() as conn:
                op_id = q.insert(
                    conn,
                    username=username,
                    display_name=display_name.strip(),
                    password_hash=password_hash,
                    is_admin=is_admin,
                    active=True,
                    status=OperatorStatus.OFFLINE,
                    last_heartbeat=None,
                    max_chats=max_chats,
                    created_at=time.time(),
                )
                return q.public(q.by_id(conn, op_id))
        except IntegrityError:
            raise Conflict(f"operator '{username}' already exists", code="operator_exists") from None

    def _hash(self, password: str) -> str:
        try:
            return auth.hash_password(password, n=self.scrypt_n)
        except ValueError as exc:
            raise ValidationError(str(exc), code="weak_password") from None

    def update(
        self,
        operator_id: int,
        *,
        active: bool | None = None,
        max_chats: int | None = None,
        is_admin: bool | None = None,
        password: str | None = None,
    ) -> dict:
        values: dict = {}
        if active is not None:
            values["active"] = active
            if not active:
                values["status"] = OperatorStatus.OFFLINE
        if max_chats is not None:
            if max_chats < 1:
                raise ValidationError("max_chats must be at least 1", code="invalid_max_chats")
            values["max_chats"] = max_chats
        if is_admin is not None:
            values["is_admin"] = is_admin
        if password is not None:
            values["password_hash"] = self._hash(password)
        try:
            with self._store.write() as conn:
                if values:
                    q.change(conn, operator_id, **values)
                if active is False or "password_hash" in values:
                    # Disabled, or a new password: every session signed in before ends now.
                    q.drop_tokens_of(conn, operator_id)
                row = q.by_id(conn, operator_id)
        finally:
            self._forget(operator_id)
        if row is None:
            raise NotFound("unknown operator", code="unknown_operator")
        return q.public(row)

    def ensure_first_operator(self, username: str, password: str, name: str = "") -> dict | None:
        """Create this admin if it does not exist (None otherwise): Settings' ADMIN_USERNAME, ADMIN_PASSWORD
        and ADMIN_NAME.

        This is how a deployment without a shell (e.g. Hugging Face Spaces) gets
        its first operator; nothing is created when the variables are not set."""
        username = _username(username)
        if not username or not password:
            return None
        with self._store.read() as conn:
            if q.by_username(conn, username) is not None:
                return None
        try:
            return self.add(username, name or username, password, is_admin=True, max_chats=3)
        except Conflict:
            return None

    # ------------------------------------------------------------ administration (admins only)
    # From the dashboard ("Operatori" page): only an active admin may manage accounts,
    # and nobody can lock themselves out.
    def _require_admin(self, actor_id: int) -> None:
        with self._store.read() as conn:
            row = q.by_id(conn, actor_id)
        if row is None or not row.active or not row.is_admin:
            raise Forbidden("only an administrator can manage operators", code="not_admin")

    def admin_add(
        self,
        actor_id: int,
        username: str,
        display_name: str,
        password: str,
        *,
        is_admin: bool = False,
        max_chats: int | None = None,
    ) -> dict:
        self._require_admin(actor_id)
        return self.add(username, display_name, password, is_admin=is_admin, max_chats=max_chats)

    def admin_update(
        self,
        actor_id: int,
        operator_id: int,
        *,
        active: bool | None = None,
        max_chats: int | None = None,
        is_admin: bool | None = None,
        password: str | None = None,
    ) -> dict:
        self._require_admin(actor_id)
        if operator_id == actor_id and (active is False or is_admin is False):
            raise Conflict("you cannot disable yourself or remove your own admin rights", code="self_lockout")
        return self.update(
            operator_id, active=active, max_chats=max_chats, is_admin=is_admin, password=password or None
        )
