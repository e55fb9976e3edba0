"""Emergencies and suggestions: urgent chats and tickets, the suggested questions of a chat.

- `sessions.urgent`: the visitor reported an emergency; the chat goes to the front of the operators' queue
  (`store/chat_queries.LIVE_QUEUE`, `domain/queue.py`) and is marked URGENT in the console.
- `sessions.suggestions`: the questions the AI's last turn offered as buttons beside "talk to a person"
  (JSON [{intent, question}], "" when none), so the visitor's poll returns them too.
- `tickets.urgent`: the ticket of such a chat (the contact form or the chat's record) carries the mark.

Revision ID: 0010
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (SQLite has it): a batch copy of `sessions` would trip its foreign keys
    op.add_column("sessions", sa.Column("urgent", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("sessions", sa.Column("suggestions", sa.Text, nullable=False, server_default=""))
    op.add_column("tickets", sa.Column("urgent", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("urgent")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("suggestions")
        batch.drop_column("urgent")
