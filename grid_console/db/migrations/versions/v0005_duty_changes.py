"""Duty changes: leave, stand-ins and extra duty

Revision ID: 0005
Revises: 0004

One-off changes to the weekly roster (grid_console/people/models.py, DutyChange).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from grid_console.db.types import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "duty_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("substitute_id", sa.Integer(), nullable=True),
        sa.Column("grid_id", sa.String(length=128), nullable=True),
        sa.Column("starts_at", UtcDateTime(), nullable=False),
        sa.Column("ends_at", UtcDateTime(), nullable=False),
        sa.Column("note", sa.String(length=256), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("cancelled_at", UtcDateTime(), nullable=True),
        sa.Column("cancelled_by", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["grid_id"], ["grids.id"], name=op.f("fk_duty_changes_grid_id_grids")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_duty_changes_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["substitute_id"], ["people.id"], name=op.f("fk_duty_changes_substitute_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_duty_changes")),
    )
    with op.batch_alter_table("duty_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_duty_changes_ends_at"), ["ends_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_duty_changes_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_duty_changes_starts_at"), ["starts_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("duty_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_duty_changes_starts_at"))
        batch_op.drop_index(batch_op.f("ix_duty_changes_person_id"))
        batch_op.drop_index(batch_op.f("ix_duty_changes_ends_at"))

    op.drop_table("duty_changes")
