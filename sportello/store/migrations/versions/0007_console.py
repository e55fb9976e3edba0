"""Operator console: internal notes on a chat or a ticket.

One row per note an operator writes on a live chat (`session_id`) or on a
ticket (`ticket_id`, with its session when it has one). Notes are read by
operators only: they are never messages, never in the visitor's poll or
transcript, never in the sheets. Erasing a visitor's data deletes them.
Chat transfers need no schema change (the session's operator changes).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(32), nullable=True),
        sa.Column("ticket_id", sa.Integer, nullable=True),
        sa.Column("operator_id", sa.Integer, nullable=True),
        sa.Column("operator_name", sa.String(128), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_notes_session", "notes", ["session_id", "created_at"])
    op.create_index("ix_notes_ticket", "notes", ["ticket_id", "created_at"])


def downgrade() -> None:
    op.drop_table("notes")
