"""Backups of the store: copy, check and restore a database while the app may be running.

- SQLite: the online backup API (`sqlite3.Connection.backup`, every page in one step), so the copy is
  one consistent snapshot taken under a read lock while the app goes on writing (WAL: readers do not
  block writers). The copy is a single self-contained file (journal_mode=DELETE).
- PostgreSQL: `pg_dump --format=custom` (and `pg_restore`), when the client tools are on PATH.

A backup is written under a temporary name in the destination folder and renamed once complete (and
fsynced), so a half-written backup never has the final name. Restoring goes through the same APIs into
the target (the backup API on SQLite, so the target's WAL is handled by SQLite itself), then the schema is
migrated forward; a backup made by a newer schema than this code knows is refused.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from sportello.config import child_env
from sportello.store import migrate
from sportello.store.database import Store, make_engine
from sportello.store.leader import make_lock

SQLITE_SUFFIX = ".db"
PG_SUFFIX = ".dump"
NOT_DATA = ("alembic_version",)  # tables that say nothing about whether a store is in use


class BackupError(RuntimeError):
    """A backup, verification or restore could not be done; the message is one line for the operator."""


@dataclass
class Verification:
    """What `verify` found in a backup file."""

    path: Path
    kind: str  # "sqlite" or "pg_dump"
    integrity: str = ""  # "ok", or what is wrong
    schema: str | None = None  # the alembic revision the backup was made at
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def schema_status(self) -> str:
        """current | older (migrated on restore) | newer (this code cannot restore it) | missing."""
        if self.schema is None:
            return "missing"
        return schema_relation(self.schema)

    @property
    def ok(self) -> bool:
        return self.integrity == "ok" and self.schema_status in ("current", "older")

    def as_dict(self) -> dict:
        return {
            "path": str(self.path),
            "kind": self.kind,
            "ok": self.ok,
            "integrity": self.integrity,
            "schema": self.schema,
            "schema_status": self.schema_status,
            "head": migrate.head(),
            "rows": self.counts,
        }


def schema_relation(revision: str) -> str:
    """Where `revision` stands against this code's migrations: current, older or newer (unknown)."""
    script = ScriptDirectory.from_config(migrate.config())
    head = script.get_current_head()
    if revision == head:
        return "current"
    known = {rev.revision for rev in script.walk_revisions()}
    return "older" if revision in known else "newer"


# -- where the store is -------------------------------------------------------------------------------------


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _libpq(url: str) -> tuple[str, dict]:
    """A libpq URL for pg_dump/pg_restore without the password (passed in PGPASSWORD, not on the command line)."""
    u = make_url(url)
    env = child_env()
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    return u.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} is not installed (or not on PATH): backups of a PostgreSQL store use the PostgreSQL client "
            f"tools; install them (e.g. `apt-get install postgresql-client`, the server's major version or newer) "
            f"or use the provider's own backups"
        )
    return path


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _publish(tmp: Path, dest: Path) -> None:
    """fsync the finished temporary file, rename it to its final name, fsync the folder."""
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, dest)
    _fsync_dir(dest.parent)


def temp_name(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.{os.getpid()}.partial")


# -- backup -------------------------------------------------------------------------------------------------


def backup(url: str, dest: Path) -> Path:
    """Write a consistent copy of the store at `url` to `dest` (a file path); returns `dest`."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(dest)
    try:
        if is_sqlite(url):
            _backup_sqlite(sqlite_file(url), tmp)
        else:
            _backup_pg(url, tmp)
        _publish(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _backup_sqlite(source: Path, tmp: Path) -> None:
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    # pages=-1: all at once, one snapshot (a stepwise copy restarts on every write); DELETE: one
    # self-contained file, no -wal beside it
    _copy_sqlite(sqlite3.connect(source, timeout=30), tmp, "DELETE")


def _copy_sqlite(src: sqlite3.Connection, target: Path, journal_mode: str) -> None:
    """Copy the database of `src` into the file `target` with SQLite's backup API (under the target's write
    lock: other connections to it see the old or the new content), then set its journal mode."""
    try:
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst)
            dst.execute(f"PRAGMA journal_mode={journal_mode}")
            dst.commit()
        finally:
            dst.close()
    finally:
        src.close()


def _backup_pg(url: str, tmp: Path) -> None:
    libpq, env = _libpq(url)
    done = subprocess.run(
        [_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(tmp), libpq],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise BackupError(f"pg_dump failed: {' '.join(done.stderr.split())[:500]}")


# -- verify -------------------------------------------------------------------------------------------------


def verify(path: Path) -> Verification:
    """Check a backup file: integrity, schema version, rows per table. Never raises for a bad file."""
    path = Path(path)
    if not path.is_file():
        return Verification(path, "unknown", integrity=f"no file at {path}")
    with open(path, "rb") as fh:
        magic = fh.read(16)
    if magic.startswith(b"PGDMP"):
        return _verify_pg(path)
    if magic != b"SQLite format 3\x00":
        return Verification(path, "unknown", integrity="neither an SQLite database nor a pg_dump archive")
    return _verify_sqlite(path)


def _verify_sqlite(path: Path) -> Verification:
    found = Verification(path, "sqlite")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        found.integrity = f"cannot open: {exc}"
        return found
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        found.integrity = "ok" if problems == ["ok"] else "; ".join(problems[:10])
        tables = [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")
        ]
        for table in sorted(tables):
            found.counts[table] = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        if "alembic_version" in tables:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            found.schema = row[0] if row else None
    except sqlite3.Error as exc:  # not a database, or damaged beyond integrity_check
        found.integrity = f"unreadable: {exc}"
    finally:
        conn.close()
    return found


_COPY = re.compile(r'^COPY (?:"?[\w]+"?\.)?"?(\w+)"? \(.*\) FROM stdin;$')


def _verify_pg(path: Path) -> Verification:
    """pg_restore reads the whole archive as SQL (nothing is restored): the data of each table is counted."""
    found = Verification(path, "pg_dump")
    try:
        tool = _tool("pg_restore")
    except BackupError as exc:
        found.integrity = str(exc)
        return found
    proc = subprocess.Popen(
        [tool, "--data-only", "--file", "-", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    table = None
    for line in proc.stdout:
        line = line.rstrip("\n")
        if table is None:
            m = _COPY.match(line)
            if m:
                table = m.group(1)
                found.counts[table] = 0
        elif line == "\\.":
            table = None
        else:
            found.counts[table] += 1
            if table == "alembic_version":
                found.schema = line.split("\t")[0]
    err = proc.stderr.read()
    if proc.wait() != 0:
        found.integrity = f"pg_restore cannot read it: {' '.join(err.split())[:500]}"
    else:
        found.integrity = "ok"
    return found


# -- restore ------------------------------------------------------------------------------------------------


def store_state(url: str) -> dict:
    """Whether the store at `url` is in use: `live` (an app process holds the outbox lock) and the
    number of rows in its tables (`rows`, 0 for a new store)."""
    if is_sqlite(url) and not sqlite_file(url).exists():
        return {"live": False, "rows": 0}
    engine = make_engine(url)
    try:
        lock = make_lock(engine)
        live = not lock.try_acquire()
        lock.release()
        rows = 0
        with engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                if table not in NOT_DATA:
                    rows += conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()
        return {"live": live, "rows": rows}
    finally:
        engine.dispose()


def restore(source: Path, url: str, *, force: bool = False) -> dict:
    """Replace the store at `url` with the backup `source`, then migrate it to this code's schema.

    Refuses (BackupError) a damaged backup, one made by a newer schema, and, without `force`, a target
    that is live or holds any row."""
    found = verify(source)
    if found.integrity != "ok":
        raise BackupError(f"the backup {source} is damaged: {found.integrity}")
    if found.schema_status == "newer":
        raise BackupError(
            f"the backup {source} was made by a newer version of Sportello (schema {found.schema}, this code "
            f"knows up to {migrate.head()}): restore it with that version"
        )
    if found.schema_status == "missing":
        raise BackupError(f"the backup {source} has no schema version (alembic_version): not a Sportello store")
    if (found.kind == "sqlite") != is_sqlite(url):
        raise BackupError(
            f"a {found.kind} backup cannot be restored into a {make_url(url).get_backend_name()} store "
            "(export and import the data instead)"
        )
    state = store_state(url)
    if not force and (state["live"] or state["rows"]):
        why = "an app process is running on it" if state["live"] else f"it holds {state['rows']} rows"
        raise BackupError(f"refusing to overwrite the store ({why}); stop the app and use --force to replace it")
    if found.kind == "sqlite":
        _restore_sqlite(Path(source), sqlite_file(url))
    else:
        _restore_pg(Path(source), url)
    store = Store(url)  # runs the migrations forward from the backup's revision
    store.dispose()
    return {
        "restored": str(source),
        "from_schema": found.schema,
        "schema": migrate.head(),
        "migrated": found.schema_status == "older",
        "rows": found.counts,
        "replaced_rows": state["rows"],
    }


def _restore_sqlite(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    _copy_sqlite(sqlite3.connect(f"file:{source}?mode=ro", uri=True), target, "WAL")  # WAL: as the app opens it


def _restore_pg(source: Path, url: str) -> None:
    libpq, env = _libpq(url)
    tool = _tool("pg_restore")
    engine = make_engine(url)  # the store is replaced whole: a table the backup lacks must not stay behind
    try:
        with engine.begin() as conn:
            for table in inspect(conn).get_table_names():
                conn.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
    finally:
        engine.dispose()
    done = subprocess.run(
        [tool, "--no-owner", "--single-transaction", "-d", libpq, str(source)],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed: {' '.join(done.stderr.split())[:500]}")
