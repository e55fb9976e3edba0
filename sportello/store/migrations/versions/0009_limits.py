"""Limits shared across processes: quotas and sign-in lockouts.

`limit_counters`: per key, a token bucket's theoretical arrival time or a lock's
end (`value`), and when the row means nothing any more (`expires_at`).
`limit_events`: failed sign-in attempts, one row each, counted in a sliding
window. Both are UNLOGGED on PostgreSQL and pruned of expired rows (sportello.store.limits.prune).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Counters are worth nothing after a crash: on PostgreSQL the tables are UNLOGGED, so a quota check
    # writes no WAL and its commit waits for no flush.
    unlogged = ["UNLOGGED"] if op.get_bind().dialect.name == "postgresql" else []
    op.create_table(
        "limit_counters",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        prefixes=unlogged,
    )
    op.create_index("ix_limit_counters_expires_at", "limit_counters", ["expires_at"])
    op.create_table(
        "limit_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        prefixes=unlogged,
    )
    op.create_index("ix_limit_events_key_at", "limit_events", ["key", "at"])
    op.create_index("ix_limit_events_expires_at", "limit_events", ["expires_at"])


def downgrade() -> None:
    op.drop_table("limit_events")
    op.drop_table("limit_counters")
