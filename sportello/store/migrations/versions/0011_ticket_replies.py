"""Mail and ticket follow-up: replies on a ticket and the visitor's ticket links.

`ticket_replies`: one row per reply, the operator's (also its mail job: state queued/sent/failed,
attempts, the next attempt, the Message-ID) or the visitor's (state received). `ticket_tokens`: the
hashes of the links to the visitor's ticket page, each bound to one ticket, with its expiry and
revocation.

Revision ID: 0011
Revises: 0007 (the integrator chains 0008-0011 at merge)
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ticket_replies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.Integer, nullable=False),
        sa.Column("author", sa.String(16), nullable=False),
        sa.Column("operator_id", sa.Integer, nullable=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=True),
        sa.Column("sent_at", sa.Float, nullable=True),
        sa.Column("message_id", sa.String(255), nullable=False),
    )
    op.create_index("ix_ticket_replies_ticket", "ticket_replies", ["ticket_id", "id"])
    op.create_index("ix_ticket_replies_due", "ticket_replies", ["state", "next_attempt_at"])
    op.create_table(
        "ticket_tokens",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("ticket_id", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float, nullable=True),
    )
    op.create_index("ix_ticket_tokens_ticket", "ticket_tokens", ["ticket_id"])


def downgrade() -> None:
    op.drop_table("ticket_tokens")
    op.drop_table("ticket_replies")
