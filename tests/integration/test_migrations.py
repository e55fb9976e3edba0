"""Schema versions: a database made by the previous schema upgrades and keeps its data."""

from __future__ import annotations

import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, select, text

from sportello.services.operators import OperatorService
from sportello.store import migrate
from sportello.store.database import Store
from sportello.store.outbox import saved_status
from sportello.store.tables import labels, metadata, sessions
from testkit.inprocess import InProcessServer
from testkit.support import Operator, Visitor

pytestmark = pytest.mark.both_databases


def test_migrated_schema_matches_the_tables_the_code_uses(settings):
    store = Store(settings.database_url)
    assert migrate.current(store.engine) == migrate.head()
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diffs == []
    store.dispose()


@pytest.mark.empty_database
def test_upgrade_from_previous_schema_keeps_data(settings, data_dir, db_env):
    engine = create_engine(settings.database_url)
    migrate.upgrade(engine, "0001")  # the schema as the previous release made it
    assert migrate.current(engine) == "0001"
    with engine.begin() as conn:
        assert "kv" not in conn.dialect.get_table_names(conn)
        conn.execute(
            text(
                "INSERT INTO operators (username, display_name, password_hash, is_admin, active, status, max_chats, created_at)"
                " VALUES ('old', 'Old Timer', 'x', false, true, 'offline', 3, :t)"
            ),
            {"t": time.time()},
        )
        conn.execute(
            text(
                "INSERT INTO sessions (id, token_hash, status, language, user_agent, created_at, updated_at, last_seq,"
                " original_question, escalation_reason) VALUES ('s1', 'h', 'bot', 'it', 'ua', 1, 1, 0, '', '')"
            )
        )
    engine.dispose()

    store = Store(settings.database_url)  # opening the store upgrades it
    assert migrate.current(store.engine) == migrate.head() == "0013"
    with store.read() as conn:
        assert conn.execute(select(sessions.c.user_agent).where(sessions.c.id == "s1")).scalar_one() == "ua"
    assert saved_status(store)["backlog"] == 0  # the new kv table works
    accounts = OperatorService(store, settings)
    accounts.add("mario", "Mario Rossi", "password123")
    assert accounts.login("mario", "password123")[0]
    store.dispose()

    # And the app runs on the upgraded database.
    with InProcessServer(data_dir, env=db_env) as srv:
        v = Visitor(srv.url)
        assert v.say("Quanto costa il biglietto?")["status"] == "bot"
        op = Operator(srv.url, "mario")
        assert op.get("status")["online"] == 0


def test_existing_labels_become_approved(settings):
    """0008: every label made before the review existed was applied at once: it stays in the learned files."""
    engine = create_engine(settings.database_url)
    migrate.upgrade(engine, "0007")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO labels (question, lang, kind, intent, question_it, question_en, answer_it, answer_en,"
                " operator_id, operator_name, created_at) VALUES ('posso portare il cane?', 'it', 'intent',"
                " 'animali', '', '', '', '', 2, 'Lucia Bianchi', 1)"
            )
        )
    migrate.upgrade(engine)
    with engine.connect() as conn:
        row = conn.execute(select(labels.c.status, labels.c.reviewed_by, labels.c.reviewed_at)).one()
    assert tuple(row) == ("approved", None, None)
    engine.dispose()
