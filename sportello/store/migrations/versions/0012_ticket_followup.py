"""Tickets followed to closure: phone call-backs, service levels, staff alerts.

- `tickets.call_attempts`, `tickets.next_call_at`: how many calls back, when the next is due;
- `tickets.first_response_at`, `tickets.resolved_at`: the service levels' ends (Analisi);
- `ticket_calls`: one row per call back (outcome, note, next attempt);
- `alerts`: the staff alerts' durable outbox (webhook, email), exactly once by `delivery_id`.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (SQLite has it): a batch copy of `tickets` would trip its foreign keys
    op.add_column("tickets", sa.Column("call_attempts", sa.Integer, nullable=False, server_default="0"))
    op.add_column("tickets", sa.Column("next_call_at", sa.Float, nullable=True))
    op.add_column("tickets", sa.Column("first_response_at", sa.Float, nullable=True))
    op.add_column("tickets", sa.Column("resolved_at", sa.Float, nullable=True))
    op.create_table(
        "ticket_calls",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=True),
        sa.Column("operator_id", sa.Integer, nullable=True),
        sa.Column("operator_name", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_ticket_calls_ticket", "ticket_calls", ["ticket_id", "id"])
    op.create_index("ix_ticket_calls_session", "ticket_calls", ["session_id"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.String(32), nullable=False, unique=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("session_id", sa.String(32), nullable=True),
        sa.Column("ticket_id", sa.Integer, nullable=True),
        sa.Column("dedupe_key", sa.String(96), nullable=True, unique=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("channels_done", sa.String(64), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("sent_at", sa.Float, nullable=True),
    )
    op.create_index("ix_alerts_status_next", "alerts", ["status", "next_attempt_at"])
    op.create_index("ix_alerts_session", "alerts", ["session_id"])


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("ticket_calls")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("resolved_at")
        batch.drop_column("first_response_at")
        batch.drop_column("next_call_at")
        batch.drop_column("call_attempts")
