"""Backups: on demand (`python -m sportello admin backup|restore|verify`) and on a schedule.

A backup is one file named after its UTC time, `sportello-20250131T083000Z.db` (SQLite, a copy made with
the online backup API while the app runs) or `.dump` (PostgreSQL, `pg_dump --format=custom`), written in
BACKUP_DIR (default DATA_DIR/backups) under a temporary name and renamed when complete. The scheduled job
(`tick`, called by the app's sweeper) makes one when the newest is BACKUP_EVERY_H hours old (0: never) and
keeps the newest BACKUP_KEEP (0: all). The mechanics are in `sportello/store/backup.py`.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime
from pathlib import Path

from sportello.store import backup as engine
from sportello.store.backup import BackupError

__all__ = ["BackupError", "BackupService"]

log = logging.getLogger("sportello.backup")
PREFIX = "sportello-"
STAMP = "%Y%m%dT%H%M%SZ"
_NAME = re.compile(rf"^{PREFIX}(\d{{8}}T\d{{6}}Z)(?:-\d+)?(\.db|\.dump)$")


class BackupService:
    def __init__(self, database_url: str, backup_dir: Path, *, every_h: float = 24.0, keep: int = 7, clock=time.time):
        self.database_url = database_url
        self.backup_dir = Path(backup_dir)
        self.every_h = every_h
        self.keep = keep
        self.clock = clock

    @classmethod
    def from_settings(cls, settings) -> BackupService:
        """BACKUP_DIR, BACKUP_EVERY_H, BACKUP_KEEP from the settings."""
        return cls(
            settings.database_url, settings.backup_dir, every_h=settings.backup_every_h, keep=settings.backup_keep
        )

    @property
    def suffix(self) -> str:
        return engine.SQLITE_SUFFIX if engine.is_sqlite(self.database_url) else engine.PG_SUFFIX

    def name_for(self, when: float) -> str:
        return f"{PREFIX}{datetime.fromtimestamp(when, UTC).strftime(STAMP)}{self.suffix}"

    def _new_path(self, folder: Path) -> Path:
        name = self.name_for(self.clock())
        path, n = folder / name, 0
        while path.exists():  # two backups in one second
            n += 1
            path = folder / name.replace(self.suffix, f"-{n}{self.suffix}")
        return path

    def backup(self, dest: Path | str | None = None) -> dict:
        """Back up the store. `dest`: a folder (a timestamped file in it), a file path, or None (BACKUP_DIR,
        then the oldest backups beyond BACKUP_KEEP are deleted)."""
        if dest is None:
            path = self._new_path(self.backup_dir)
        elif Path(dest).is_dir() or str(dest).endswith("/"):
            path = self._new_path(Path(dest))
        else:
            path = Path(dest)
        started = time.monotonic()
        engine.backup(self.database_url, path)
        report = {
            "backup": str(path),
            "bytes": path.stat().st_size,
            "seconds": round(time.monotonic() - started, 3),
        }
        if dest is None:
            report["deleted"] = [str(p) for p in self.prune()]
        return report

    def backups(self) -> list[Path]:
        """This store's kind of backups in BACKUP_DIR, oldest first (by the time in the name)."""
        if not self.backup_dir.is_dir():
            return []
        found = []
        for p in self.backup_dir.iterdir():
            m = _NAME.match(p.name)
            if m and m.group(2) == self.suffix and p.is_file():
                found.append((m.group(1), p.name, p))
        return [p for _, _, p in sorted(found)]

    def prune(self) -> list[Path]:
        """Delete the oldest backups beyond BACKUP_KEEP (0 keeps them all); returns the deleted paths."""
        if self.keep <= 0:
            return []
        old = self.backups()[: -self.keep]
        for p in old:
            p.unlink(missing_ok=True)
        return old

    def newest_time(self) -> float | None:
        names = self.backups()
        if not names:
            return None
        stamp = _NAME.match(names[-1].name).group(1)
        return datetime.strptime(stamp, STAMP).replace(tzinfo=UTC).timestamp()

    def due(self) -> bool:
        if self.every_h <= 0:
            return False
        newest = self.newest_time()
        return newest is None or self.clock() - newest >= self.every_h * 3600

    def tick(self) -> dict | None:
        """The scheduled job: a backup (and pruning) when one is due, else None. Run it in one process
        (the outbox leader) every minute or so; the time of the newest file survives restarts."""
        if not self.due():
            return None
        report = self.backup()
        log.info("scheduled backup %s (%d bytes, %.1f s)", report["backup"], report["bytes"], report["seconds"])
        return report

    def verify(self, source: Path | str) -> dict:
        return engine.verify(Path(source)).as_dict()

    def restore(self, source: Path | str, *, force: bool = False) -> dict:
        return engine.restore(Path(source), self.database_url, force=force)
