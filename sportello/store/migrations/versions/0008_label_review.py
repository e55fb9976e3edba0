"""Label review: what a non-admin operator teaches the AI is a proposal until an admin approves it.

- `labels.status`: `approved` (in the learned files the answerers read), `proposed` (waiting for an
  admin's review, never in the learned files) or `rejected`. Every existing label was applied at once
  when it was made, so the existing rows become `approved`.
- `labels.reviewed_by`, `labels.reviewed_at`: who approved or rejected it, and when (an admin's own
  label: the admin, at its creation).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (SQLite has it); the server default makes every existing label approved
    op.add_column("labels", sa.Column("status", sa.String(16), nullable=False, server_default="approved"))
    op.add_column("labels", sa.Column("reviewed_by", sa.String(128), nullable=True))
    op.add_column("labels", sa.Column("reviewed_at", sa.Float, nullable=True))
    op.create_index("ix_labels_status", "labels", ["status"])


def downgrade() -> None:
    op.drop_index("ix_labels_status", "labels")
    with op.batch_alter_table("labels") as batch:
        batch.drop_column("reviewed_at")
        batch.drop_column("reviewed_by")
        batch.drop_column("status")
