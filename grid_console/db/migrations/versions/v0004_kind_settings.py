"""Per-kind timers and routing set by an admin (kind_settings)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from grid_console.db.types import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kind_settings",
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("response_s", sa.Integer(), nullable=True),
        sa.Column("handle_s", sa.Integer(), nullable=True),
        sa.Column("auto_register", sa.Boolean(), nullable=True),
        sa.Column("dispatch", sa.String(length=16), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_kind_settings")),
    )


def downgrade() -> None:
    op.drop_table("kind_settings")
