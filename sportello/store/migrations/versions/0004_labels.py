"""Labels: what operators taught the answerer (the learning loop), versioned.

One row per operator decision on a visitor question: `intent` (this question is
intent X), `escalate` (it must go to a person) or `kb_entry` (a new knowledge
base entry, question and answer in Italian and English). Undo sets `undone_at`
and `undone_by`; rows are never deleted. The files the answerer reads are
generated from the rows that are not undone (sportello.services.learning).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("intent", sa.String(64), nullable=False),
        sa.Column("question_it", sa.Text, nullable=False),
        sa.Column("question_en", sa.Text, nullable=False),
        sa.Column("answer_it", sa.Text, nullable=False),
        sa.Column("answer_en", sa.Text, nullable=False),
        sa.Column("operator_id", sa.Integer, nullable=True),
        sa.Column("operator_name", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("undone_at", sa.Float, nullable=True),
        sa.Column("undone_by", sa.String(128), nullable=True),
    )
    op.create_index("ix_labels_created_at", "labels", ["created_at"])


def downgrade() -> None:
    op.drop_table("labels")
