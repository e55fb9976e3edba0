"""Satisfaction ratings and the operator-typing mark (visitor side).

- `ratings`: one row per session (unique), the visitor's 1-5 score and optional
  comment, who resolved the chat ("ai" or "operator"), the ticket if any.
- `tickets.rating`, `tickets.rating_comment`: the same on the session's ticket.
- `sessions.operator_typing_at`: when the operator last said they were typing
  (read by the visitor's poll; shared by every process through the database).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(32), nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("resolved_by", sa.String(16), nullable=False),
        sa.Column("operator_name", sa.String(128), nullable=False),
        sa.Column("ticket_id", sa.Integer, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("session_id", name="uq_ratings_session"),
    )
    op.create_index("ix_ratings_created_at", "ratings", ["created_at"])
    # plain ADD COLUMN (SQLite has it): a batch copy of `sessions` would trip its foreign keys
    op.add_column("tickets", sa.Column("rating", sa.Integer, nullable=True))
    op.add_column("tickets", sa.Column("rating_comment", sa.Text, nullable=False, server_default=""))
    op.add_column("sessions", sa.Column("operator_typing_at", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("operator_typing_at")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("rating_comment")
        batch.drop_column("rating")
    op.drop_index("ix_ratings_created_at", "ratings")
    op.drop_table("ratings")
