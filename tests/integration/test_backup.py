"""Backups: `admin backup|verify|restore`, retention and the scheduled tick (tests/e2e/test_backup_under_load.py
backs up a running app under load)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from sportello.config import Settings
from sportello.faces.admin import main as admin
from sportello.runtime import Runtime
from sportello.services.backup import BackupError, BackupService
from sportello.store import backup as store_backup
from sportello.store import migrate
from sportello.store.tables import messages
from testkit.databases import postgres_database
from testkit.fakes import FakeAnswerer
from testkit.support import add_operator, wait_until

pytestmark = pytest.mark.both_databases


def _service(settings: Settings, **kw) -> BackupService:
    return BackupService(settings.database_url, settings.data_dir / "backups", **kw)


def _count(url: str, table=messages) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(table)).scalar_one()
    finally:
        engine.dispose()


def _chat(settings: Settings, n: int) -> None:
    rt = Runtime(settings, answerer=FakeAnswerer())
    try:
        s = rt.chat.start_session()
        for i in range(n):
            rt.chat.visitor_message(s["session_id"], s["token"], f"domanda {i}")
    finally:
        rt.store.dispose()


@pytest.fixture
def other(tmp_path, db_env):
    """A second, empty store of the same kind (SQLite file or PostgreSQL database)."""
    d = tmp_path / "other"
    d.mkdir()
    if not db_env.get("DATABASE_URL"):
        yield Settings.from_env({"DATA_DIR": str(d)})
        return
    second = postgres_database(db_env["DATABASE_URL"])
    yield Settings.from_env({"DATA_DIR": str(d), "DATABASE_URL": next(second)})
    next(second, None)  # drops it


def test_backup_verify_restore_round_trip(settings, other):
    _chat(settings, 3)
    service = _service(settings)
    report = service.backup()
    path = Path(report["backup"])
    assert path.parent == settings.data_dir / "backups" and report["bytes"] > 0
    assert path.name.startswith("sportello-") and path.suffix == service.suffix
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary file left

    found = service.verify(path)
    assert found["ok"] and found["integrity"] == "ok" and found["schema_status"] == "current"
    assert found["rows"]["messages"] == _count(settings.database_url) > 0

    done = _service(other).restore(path)
    assert done["schema"] == migrate.head() and not done["migrated"]
    assert _count(other.database_url) == _count(settings.database_url)


def test_restore_refuses_a_store_with_data_without_force(settings, other):
    _chat(settings, 1)
    path = Path(_service(settings).backup()["backup"])
    _chat(other, 2)
    before = _count(other.database_url)
    with pytest.raises(BackupError, match="refusing to overwrite"):
        _service(other).restore(path)
    assert _count(other.database_url) == before
    _service(other).restore(path, force=True)
    assert _count(other.database_url) == _count(settings.database_url)


def test_restore_refuses_a_live_store(settings, other):
    _chat(settings, 1)
    path = Path(_service(settings).backup()["backup"])
    rt = Runtime(other, answerer=FakeAnswerer()).start()  # holds the outbox lock, as a running app does
    try:
        wait_until(lambda: rt.leadership.is_leader, timeout=10)
        with pytest.raises(BackupError, match="app process is running"):
            _service(other).restore(path)
    finally:
        rt.stop()


def _sqlite_backup_at(settings: Settings, tmp_path: Path, revision: str) -> Path:
    """A SQLite backup whose alembic_version says `revision`."""
    _chat(settings, 1)
    path = Path(_service(settings).backup(tmp_path / "b.db")["backup"])
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    return path


@pytest.mark.database("sqlite")  # the schema check is the same code on both; the SQLite file is easy to edit
def test_restore_refuses_a_backup_from_a_newer_schema(settings, tmp_path):
    path = _sqlite_backup_at(settings, tmp_path, "9999")
    found = _service(settings).verify(path)
    assert found["schema_status"] == "newer" and not found["ok"]
    target = Settings.from_env({"DATA_DIR": str(tmp_path / "fresh")})
    with pytest.raises(BackupError, match="newer version"):
        _service(target).restore(path)
    assert admin(["verify", str(path)]) == 1


@pytest.mark.database("sqlite")  # an old store is made by running the migrations up to 0005
def test_restore_migrates_an_older_backup_forward(tmp_path):
    old = Settings.from_env({"DATA_DIR": str(tmp_path / "old")})
    old.data_dir.mkdir()
    engine = create_engine(old.database_url)
    migrate.upgrade(engine, "0005")
    engine.dispose()
    path = Path(_service(old).backup()["backup"])
    assert _service(old).verify(path)["schema_status"] == "older"
    fresh = Settings.from_env({"DATA_DIR": str(tmp_path / "fresh")})
    done = _service(fresh).restore(path)
    assert done["from_schema"] == "0005" and done["migrated"] and done["schema"] == migrate.head()
    assert _service(fresh).verify(store_backup.sqlite_file(fresh.database_url))["schema"] == migrate.head()


def test_a_failed_backup_leaves_no_file_under_the_final_name(settings, monkeypatch):
    def broken(_src, tmp):
        Path(tmp).write_bytes(b"half a backup")
        raise OSError("disk full")

    monkeypatch.setattr(store_backup, "_backup_sqlite", broken)
    monkeypatch.setattr(store_backup, "_backup_pg", lambda _url, tmp: broken(None, tmp))
    with pytest.raises(OSError, match="disk full"):
        _service(settings).backup()
    assert list((settings.data_dir / "backups").iterdir()) == []


def test_retention_and_the_schedule(settings):
    _chat(settings, 1)
    now = [1_700_000_000.0]
    service = _service(settings, every_h=24, keep=3, clock=lambda: now[0])
    assert service.due()
    made = []
    for _ in range(5):
        made.append(Path(service.tick()["backup"]))
        assert service.tick() is None  # not due again until 24 h later
        now[0] += 24 * 3600
    assert service.backups() == made[-3:]  # the oldest beyond BACKUP_KEEP are gone
    assert [p.name for p in made[:2] if p.exists()] == []
    assert made[0].name == f"sportello-20231114T221320Z{service.suffix}"
    assert not _service(settings, every_h=0).due()


def test_verify_flags_a_damaged_file(tmp_path, capsys):  # one file, no store involved
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    assert admin(["verify", str(bad)]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False
    assert admin(["verify", str(tmp_path / "missing.db")]) == 1


def test_admin_commands(settings, db_env, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    if db_env.get("DATABASE_URL"):
        monkeypatch.setenv("DATABASE_URL", db_env["DATABASE_URL"])
    add_operator(settings.data_dir, "mario", "Mario Rossi", env=db_env)
    assert admin(["backup"]) == 0
    path = json.loads(capsys.readouterr().out)["backup"]
    assert admin(["verify", path]) == 0
    assert json.loads(capsys.readouterr().out)["rows"]["operators"] == 1
    assert admin(["restore", path]) == 2  # the store holds the operator
    assert "refusing to overwrite" in capsys.readouterr().err
    assert admin(["restore", path, "--force"]) == 0
    assert json.loads(capsys.readouterr().out)["replaced_rows"] > 0
    assert admin(["backup", str(tmp_path / "here") + "/"]) == 0
    assert Path(json.loads(capsys.readouterr().out)["backup"]).parent == tmp_path / "here"


@pytest.mark.database("postgresql")
def test_postgres_without_pg_dump_says_so(settings, db_env, monkeypatch):
    monkeypatch.setattr(store_backup.shutil, "which", lambda _name: None)
    with pytest.raises(BackupError, match="pg_dump is not installed"):
        _service(settings).backup()


def test_the_running_app_makes_the_scheduled_backup(tmp_path, monkeypatch):
    """Runtime.start runs BACKUP_EVERY_H in the outbox leader: a store without any backup gets one at once
    (SQLite; with BACKUP_EVERY_H=0 no backup scheduler runs)."""
    monkeypatch.setattr("sportello.runtime.BACKUP_CHECK_EVERY_S", 0.0)
    settings = Settings.from_env({"DATA_DIR": str(tmp_path), "BACKUP_KEEP": "2"})
    rt = Runtime(settings, answerer=FakeAnswerer()).start()
    try:
        wait_until(lambda: len(rt.backups.backups()) == 1, timeout=15)
        assert rt.backups.backups()[0].parent == tmp_path / "backups"
        assert store_backup.verify(rt.backups.backups()[0]).ok
    finally:
        rt.stop()
    off = Runtime(
        Settings.from_env({"DATA_DIR": str(tmp_path / "off"), "BACKUP_EVERY_H": "0"}), answerer=FakeAnswerer()
    )
    try:
        assert off.backup_scheduler.jobs == []
    finally:
        off.store.dispose()
