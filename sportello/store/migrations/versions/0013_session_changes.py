"""The change feed: an index on `sessions.updated_at`.

Every transition, message and operator "typing" mark bumps `sessions.updated_at`; the change feed of each
app process (sportello/services/feed.py) asks, every FEED_INTERVAL_S while a visitor stream is open, for
the sessions changed in the last few seconds. The index keeps that one query cheap however many chats
the table holds.

Revision ID: 0013
Revises: 0008
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_sessions_updated_at", "sessions", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_sessions_updated_at", "sessions")
