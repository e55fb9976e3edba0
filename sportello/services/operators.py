"""Operator accounts: creation, login tokens, presence and availability.

`OperatorService` is what the faces call (the API, the dashboard, the admin
CLI): it holds the store. The module functions below it take a store or a
connection and are shared with `ChatService`, which checks availability and
capacity inside its own transactions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from sportello.config import Settings
from sportello.domain import Conflict, Forbidden, NotFound, OperatorStatus, State, Unauthorized, ValidationError
from sportello.domain import credentials as auth
from sportello.services.throttle import LoginGuard
from sportello.store.database import Store
from sportello.store.tables import operator_tokens, operators, sessions

HEARTBEAT_WRITE_EVERY_S = 5.0
TOKEN_CACHE_S = 2.0
PUBLIC_FIELDS = ("id", "username", "display_name", "is_admin", "active", "status", "last_heartbeat", "max_chats")


def _public(row, active_chats: int | None = None) -> dict:
    d = {k: row._mapping[k] for k in PUBLIC_FIELDS}
    if active_chats is not None:
        d["active_chats"] = active_chats
    return d


def add_operator(
    store: Store,
    username: str,
    display_name: str,
    password: str,
    *,
    is_admin: bool = False,
    max_chats: int = 3,
    scrypt_n: int = auth.SCRYPT_N,
) -> dict:
    username = (username or "").strip().lower()
    if not username or len(username) > 64 or not username.replace("_", "").replace(".", "").isalnum():
        raise ValidationError("username must be letters, digits, '.' or '_'", code="invalid_username")
    if not (display_name or "").strip():
        raise ValidationError("display name is required", code="invalid_name")
    if max_chats < 1:
        raise ValidationError("max_chats must be at least 1", code="invalid_max_chats")
    try:
        password_hash = auth.hash_password(password, n=scrypt_n)
    except ValueError as exc:
        raise ValidationError(str(exc), code="weak_password") from None
    try:
        with store.write() as conn:
            result = conn.execute(
                operators.insert().values(
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
            )
            op_id = result.inserted_primary_key[0]
            return _public(conn.execute(select(operators).where(operators.c.id == op_id)).one())
    except IntegrityError:
        raise Conflict(f"operator '{username}' already exists", code="operator_exists") from None


def login(
    store: Store, username: str, password: str, ttl_s: float, *, scrypt_n: int = auth.SCRYPT_N
) -> tuple[str, dict]:
    username = (username or "").strip().lower()
    with store.read() as conn:
        row = conn.execute(select(operators).where(operators.c.username == username)).first()
    # Same error, and the same work (one scrypt at the current cost), whether the user exists or not.
    stored = row.password_hash if row is not None else auth.dummy_hash(n=scrypt_n)
    if not auth.verify_password(password or "", stored) or row is None or not row.active:
        raise Unauthorized("wrong username or password", code="bad_credentials")
    token = auth.new_token()
    now = time.time()
    with store.write() as conn:
        if auth.needs_rehash(row.password_hash, n=scrypt_n):
            # An old hash (a lower cost): replaced now that the password is known.
            conn.execute(
                update(operators)
                .where(operators.c.id == row.id, operators.c.password_hash == row.password_hash)
                .values(password_hash=auth.hash_password(password, n=scrypt_n))
            )
        conn.execute(
            operator_tokens.insert().values(
                token_hash=auth.token_hash(token), operator_id=row.id, created_at=now, expires_at=now + ttl_s
            )
        )
        conn.execute(operator_tokens.delete().where(operator_tokens.c.expires_at < now))
    return token, _public(row)


def logout(store: Store, token: str) -> None:
    with store.write() as conn:
        conn.execute(operator_tokens.delete().where(operator_tokens.c.token_hash == auth.token_hash(token)))


def authenticate(store: Store, token: str, *, touch: bool = True) -> dict:
    """The operator a bearer token belongs to; refreshes its heartbeat."""
    if not token:
        raise Unauthorized("missing bearer token", code="missing_token")
    now = time.time()
    with store.read() as conn:
        row = conn.execute(
            select(operators)
            .join(operator_tokens, operator_tokens.c.operator_id == operators.c.id)
            .where(operator_tokens.c.token_hash == auth.token_hash(token), operator_tokens.c.expires_at > now)
        ).first()
    if row is None or not row.active:
        raise Unauthorized("invalid or expired token", code="invalid_token")
    op = _public(row)
    if touch and (row.last_heartbeat is None or now - row.last_heartbeat > HEARTBEAT_WRITE_EVERY_S):
        heartbeat(store, row.id, now=now)
        op["last_heartbeat"] = now
    return op


def heartbeat(store: Store, operator_id: int, *, now: float | None = None) -> None:
    with store.write() as conn:
        conn.execute(update(operators).where(operators.c.id == operator_id).values(last_heartbeat=now or time.time()))


def set_status(store: Store, operator_id: int, status: str) -> dict:
    try:
        status = OperatorStatus(status)
    except ValueError:
        raise ValidationError("status must be online, away or offline", code="invalid_status") from None
    with store.write() as conn:
        conn.execute(
            update(operators).where(operators.c.id == operator_id).values(status=status, last_heartbeat=time.time())
        )
        return _public(conn.execute(select(operators).where(operators.c.id == operator_id)).one())


def update_operator(
    store: Store,
    operator_id: int,
    *,
    active: bool | None = None,
    max_chats: int | None = None,
    is_admin: bool | None = None,
    password: str | None = None,
    scrypt_n: int = auth.SCRYPT_N,
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
        try:
            values["password_hash"] = auth.hash_password(password, n=scrypt_n)
        except ValueError as exc:
            raise ValidationError(str(exc), code="weak_password") from None
    with store.write() as conn:
        if values:
            conn.execute(update(operators).where(operators.c.id == operator_id).values(**values))
        if active is False or "password_hash" in values:
            # Disabled, or a new password: every session signed in before ends now.
            conn.execute(operator_tokens.delete().where(operator_tokens.c.operator_id == operator_id))
        row = conn.execute(select(operators).where(operators.c.id == operator_id)).first()
    if row is None:
        raise NotFound("unknown operator", code="unknown_operator")
    return _public(row)


def active_chats_query():
    return (
        select(sessions.c.operator_id, func.count().label("n"))
        .where(sessions.c.status == State.LIVE)
        .group_by(sessions.c.operator_id)
    )


def list_operators(conn: Connection) -> list[dict]:
    counts = {r.operator_id: r.n for r in conn.execute(active_chats_query())}
    rows = conn.execute(select(operators).order_by(operators.c.username))
    return [_public(r, counts.get(r.id, 0)) for r in rows]


def is_present(op: dict, now: float, heartbeat_timeout_s: float) -> bool:
    return (
        op["active"]
        and op["status"] == OperatorStatus.ONLINE
        and op["last_heartbeat"] is not None
        and now - op["last_heartbeat"] <= heartbeat_timeout_s
    )


def can_take(op: dict, now: float, heartbeat_timeout_s: float) -> bool:
    """Present with room for one more chat (`op` from list_operators, with active_chats)."""
    return is_present(op, now, heartbeat_timeout_s) and op["active_chats"] < op["max_chats"]


def availability(conn: Connection, now: float, heartbeat_timeout_s: float) -> dict:
    """{"available", "online", "operators"}: available = someone present with room."""
    ops = list_operators(conn)
    present = [o for o in ops if is_present(o, now, heartbeat_timeout_s)]
    available = any(can_take(o, now, heartbeat_timeout_s) for o in present)
    return {"available": available, "online": len(present), "operators": ops}


def has_capacity(conn: Connection, operator_id: int) -> bool:
    row = conn.execute(select(operators.c.max_chats, operators.c.active).where(operators.c.id == operator_id)).first()
    if row is None or not row.active:
        return False
    n = conn.execute(
        select(func.count())
        .select_from(sessions)
        .where(and_(sessions.c.operator_id == operator_id, sessions.c.status == State.LIVE))
    ).scalar_one()
    return n < row.max_chats


def ensure_first_operator(store: Store, env, *, scrypt_n: int = auth.SCRYPT_N) -> dict | None:
    """Create the admin named by ADMIN_USERNAME/ADMIN_PASSWORD if it does not exist.

    This is how a deployment without a shell (e.g. Hugging Face Spaces) gets
    its first operator; nothing is created when the variables are not set.
    """
    username = (env.get("ADMIN_USERNAME") or "").strip().lower()
    password = env.get("ADMIN_PASSWORD") or ""
    if not username or not password:
        return None
    with store.read() as conn:
        if conn.execute(select(operators.c.id).where(operators.c.username == username)).first():
            return None
    try:
        return add_operator(
            store, username, env.get("ADMIN_NAME") or username, password, is_admin=True, scrypt_n=scrypt_n
        )
    except Conflict:
        return None


# ---------------------------------------------------------------------------
# Administration from the dashboard ("Operatori" page): only an active admin
# may manage accounts, and nobody can lock themselves out.


def _require_admin(store: Store, actor_id: int) -> None:
    with store.read() as conn:
        row = conn.execute(select(operators.c.is_admin, operators.c.active).where(operators.c.id == actor_id)).first()
    if row is None or not row.active or not row.is_admin:
        raise Forbidden("only an administrator can manage operators", code="not_admin")


def admin_add_operator(
    store: Store,
    actor_id: int,
    username: str,
    display_name: str,
    password: str,
    *,
    is_admin: bool = False,
    max_chats: int = 3,
    scrypt_n: int = auth.SCRYPT_N,
) -> dict:
    _require_admin(store, actor_id)
    return add_operator(
        store, username, display_name, password, is_admin=is_admin, max_chats=max_chats, scrypt_n=scrypt_n
    )


def admin_update_operator(
    store: Store,
    actor_id: int,
    operator_id: int,
    *,
    active: bool | None = None,
    max_chats: int | None = None,
    is_admin: bool | None = None,
    password: str | None = None,
    scrypt_n: int = auth.SCRYPT_N,
) -> dict:
    _require_admin(store, actor_id)
    if operator_id == actor_id and (active is False or is_admin is False):
        raise Conflict("you cannot disable yourself or remove your own admin rights", code="self_lockout")
    return update_operator(
        store,
        operator_id,
        active=active,
        max_chats=max_chats,
        is_admin=is_admin,
        password=password or None,
        scrypt_n=scrypt_n,
    )


def find_by_username(store: Store, username: str) -> dict:
    username = (username or "").strip().lower()
    with store.read() as conn:
        row = conn.execute(select(operators).where(operators.c.username == username)).first()
    if row is None:
        raise NotFound(f"no operator '{username}'", code="unknown_operator")
    return _public(row)


class OperatorService:
    """Operator accounts and presence, for the faces: the store stays inside."""

    def __init__(self, store: Store, settings: Settings, *, clock: Callable[[], float] = time.time):
        self._store = store
        self.settings = settings
        self.clock = clock
        self.scrypt_n = getattr(settings, "password_scrypt_n", auth.SCRYPT_N)
        self.guard = LoginGuard(settings)
        self._tokens: dict[str, tuple[float, dict]] = {}  # token hash -> (valid until, operator)

    # ------------------------------------------------------------ sign-in
    def login(self, username: str, password: str, *, client: str | None = None) -> tuple[str, dict]:
        """A new bearer token (valid TOKEN_TTL_S) and the operator.

        `client` is the caller's address: failures lock the username and the
        address for a while (sportello.services.throttle.LoginGuard, RateLimited)."""
        key = (username or "").strip().lower()[:64]
        self.guard.check(key, client)
        try:
            result = login(self._store, username, password, self.settings.token_ttl_s, scrypt_n=self.scrypt_n)
        except Unauthorized:
            self.guard.failed(key, client)
            raise
        self.guard.succeeded(key, client)
        return result

    def logout(self, token: str) -> None:
        self._tokens.pop(auth.token_hash(token or ""), None)
        logout(self._store, token)

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
                or time.time() - hit[1]["last_heartbeat"] <= HEARTBEAT_WRITE_EVERY_S
            )
        ):
            return dict(hit[1])
        op = authenticate(self._store, token, touch=touch)
        if len(self._tokens) > 10_000:
            self._tokens.clear()
        self._tokens[key] = (now + TOKEN_CACHE_S, dict(op))
        return op

    def _forget(self, operator_id: int) -> None:
        for key, (_, op) in list(self._tokens.items()):
            if op["id"] == operator_id:
                self._tokens.pop(key, None)

    # ------------------------------------------------------------ presence
    def heartbeat(self, operator_id: int, *, now: float | None = None) -> None:
        heartbeat(self._store, operator_id, now=now)

    def set_status(self, operator_id: int, status: str) -> dict:
        try:
            return set_status(self._store, operator_id, status)
        finally:
            self._forget(operator_id)

    def is_present(self, op: dict, now: float | None = None) -> bool:
        """Online with a heartbeat younger than HEARTBEAT_TIMEOUT_S."""
        return is_present(op, self.clock() if now is None else now, self.settings.heartbeat_timeout_s)

    # ------------------------------------------------------------ accounts
    def list_operators(self) -> list[dict]:
        """Every account, by username, with its number of live chats."""
        with self._store.read() as conn:
            return list_operators(conn)

    def by_username(self, username: str) -> dict:
        return find_by_username(self._store, username)

    def add(
        self,
        username: str,
        display_name: str,
        password: str,
        *,
        is_admin: bool = False,
        max_chats: int | None = None,
    ) -> dict:
        return add_operator(
            self._store,
            username,
            display_name,
            password,
            is_admin=is_admin,
            max_chats=self.settings.default_max_chats if max_chats is None else max_chats,
            scrypt_n=self.scrypt_n,
        )

    def update(
        self,
        operator_id: int,
        *,
        active: bool | None = None,
        max_chats: int | None = None,
        is_admin: bool | None = None,
        password: str | None = None,
    ) -> dict:
        try:
            return update_operator(
                self._store,
                operator_id,
                active=active,
                max_chats=max_chats,
                is_admin=is_admin,
                password=password,
                scrypt_n=self.scrypt_n,
            )
        finally:
            self._forget(operator_id)

    def ensure_first_operator(self, env: Mapping[str, str]) -> dict | None:
        """The admin named by ADMIN_USERNAME/ADMIN_PASSWORD, created if missing (None otherwise)."""
        return ensure_first_operator(self._store, env, scrypt_n=self.scrypt_n)

    # ------------------------------------------------------------ administration (admins only)
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
        return admin_add_operator(
            self._store,
            actor_id,
            username,
            display_name,
            password,
            is_admin=is_admin,
            max_chats=self.settings.default_max_chats if max_chats is None else max_chats,
            scrypt_n=self.scrypt_n,
        )

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
        try:
            return admin_update_operator(
                self._store,
                actor_id,
                operator_id,
                active=active,
                max_chats=max_chats,
                is_admin=is_admin,
                password=password,
                scrypt_n=self.scrypt_n,
            )
        finally:
            self._forget(operator_id)
