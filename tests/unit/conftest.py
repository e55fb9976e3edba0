"""Unit fixtures: the ChatService over a temporary SQLite file, a fake answerer and a fake clock.

Each test's new database file is a copy of one its process migrated once (testkit/databases.py,
`new_sqlite_files_from_a_template`, installed by tests/conftest.py), so a test starts in milliseconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from sportello.config import Settings
from sportello.domain import OperatorStatus
from sportello.domain import credentials as auth
from sportello.services.chat import ChatService
from sportello.services.operators import OperatorService
from sportello.store.database import Store
from sportello.store.tables import operators
from testkit.fakes import PRICE_A, PRICE_Q, FakeAnswerer, FakeClock


@pytest.fixture(scope="session")
def password_hash():
    return auth.hash_password("password123")


@dataclass
class Desk:
    """The services under test, their store and their fakes."""

    chat: ChatService
    operators: OperatorService
    store: Store
    clock: FakeClock
    answerer: FakeAnswerer
    settings: Settings
    password_hash: str

    def add_operator(self, username: str, name: str, *, max_chats: int = 3, online: bool = True) -> int:
        """An operator row, online with a fresh heartbeat unless `online=False` (no password hashing)."""
        with self.store.write() as conn:
            return conn.execute(
                operators.insert().values(
                    username=username,
                    display_name=name,
                    password_hash=self.password_hash,
                    is_admin=False,
                    active=True,
                    status=OperatorStatus.ONLINE if online else OperatorStatus.OFFLINE,
                    last_heartbeat=self.clock() if online else None,
                    max_chats=max_chats,
                    created_at=time.time(),
                )
            ).inserted_primary_key[0]


@pytest.fixture
def desk(tmp_path, password_hash) -> Desk:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    settings = Settings.from_env({"DATA_DIR": str(data_dir), "QUEUE_TIMEOUT_S": "120"})
    store = Store(settings.database_url)
    clock = FakeClock()
    answerer = FakeAnswerer({PRICE_Q: ("richiesta_prezzi", PRICE_A)})
    chat = ChatService(store, answerer, settings, clock=clock)
    yield Desk(chat, OperatorService(store, settings, clock=clock), store, clock, answerer, settings, password_hash)
    store.dispose()
