"""People, grids, rosters, sessions, deadlines; the alerts, assignees and photos of a case

Revision ID: 0002
Revises: 0001

admin_audit (added before 0002 was released) records who changed the directory or accounts.
Cases opened under 0001 get their own alert in case_alerts and, while open, their two
deadlines as rows, so the deadline job treats them like new ones.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from grid_console.db.types import UtcDateTime

# Written out here, not imported from the models: a migration describes the schema as it was.
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _admin_audit()

    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("remote", sa.String(length=64), nullable=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_attempts_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_attempts_remote"), ["remote"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_attempts_username"), ["username"], unique=False)

    op.create_table(
        "people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
        sa.UniqueConstraint("username", name=op.f("uq_people_username")),
    )
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_people_role"), ["role"], unique=False)

    op.create_table(
        "sites",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
    )
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.Column("remote", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_auth_sessions_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_sessions")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_auth_sessions_token_sha256")),
    )
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_sessions_person_id"), ["person_id"], unique=False)

    op.create_table(
        "case_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.String(length=26), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("latest_seq", sa.Integer(), nullable=False),
        sa.Column("joined_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_alerts_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_alerts")),
        sa.UniqueConstraint("alert_id", name=op.f("uq_case_alerts_alert_id")),
    )
    with op.batch_alter_table("case_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_alerts_case_id"), ["case_id"], unique=False)

    op.create_table(
        "case_assignees",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("assigned_at", UtcDateTime(), nullable=False),
        sa.Column("assigned_by", sa.String(length=128), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_assignees_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_assignees")),
    )
    with op.batch_alter_table("case_assignees", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_assignees_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_assignees_username"), ["username"], unique=False)

    op.create_table(
        "case_photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by", sa.String(length=128), nullable=False),
        sa.Column("uploaded_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_photos_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["sha256"], ["snapshots.sha256"], name=op.f("fk_case_photos_sha256_snapshots")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_photos")),
        sa.UniqueConstraint("case_id", "sha256", name=op.f("uq_case_photos_case_id_sha256")),
    )
    with op.batch_alter_table("case_photos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_photos_case_id"), ["case_id"], unique=False)

    op.create_table(
        "deadlines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("done_at", UtcDateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("acted_by", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_deadlines_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deadlines")),
    )
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deadlines_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_deadlines_done_at"), ["done_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_deadlines_due_at"), ["due_at"], unique=False)

    op.create_table(
        "grids",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("site_id", sa.String(length=128), nullable=True),
        sa.Column("parent_id", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(["parent_id"], ["grids.id"], name=op.f("fk_grids_parent_id_grids")),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_grids_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grids")),
    )
    with op.batch_alter_table("grids", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grids_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_grids_site_id"), ["site_id"], unique=False)

    op.create_table(
        "person_channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=1024), nullable=False),
        sa.Column("secret", sa.String(length=256), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_person_channels_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_channels")),
        sa.UniqueConstraint(
            "person_id", "kind", "target", name=op.f("uq_person_channels_person_id_kind_target")
        ),
    )
    with op.batch_alter_table("person_channels", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_person_channels_person_id"), ["person_id"], unique=False
        )

    op.create_table(
        "person_grids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["grid_id"], ["grids.id"], name=op.f("fk_person_grids_grid_id_grids")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_person_grids_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_grids")),
        sa.UniqueConstraint("person_id", "grid_id", name=op.f("uq_person_grids_person_id_grid_id")),
    )
    with op.batch_alter_table("person_grids", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_grids_grid_id"), ["grid_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_person_grids_person_id"), ["person_id"], unique=False)

    op.create_table(
        "shifts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.String(length=128), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["grid_id"], ["grids.id"], name=op.f("fk_shifts_grid_id_grids")),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_shifts_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shifts")),
        sa.UniqueConstraint(
            "person_id",
            "grid_id",
            "weekday",
            "start_minute",
            name=op.f("uq_shifts_person_id_grid_id_weekday_start_minute"),
        ),
    )
    with op.batch_alter_table("shifts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shifts_grid_id"), ["grid_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_shifts_person_id"), ["person_id"], unique=False)

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("origin", sa.String(length=16), server_default="node", nullable=False)
        )
        batch_op.add_column(
            sa.Column("escalation_level", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("deferred_until", UtcDateTime(), nullable=True))

    op.execute(
        "INSERT INTO case_alerts (alert_id, case_id, latest_seq, joined_at) "
        "SELECT alert_id, id, latest_seq, opened_at FROM cases"
    )
    for kind, column in (("response", "response_due_at"), ("handle", "handle_due_at")):
        op.execute(
            "INSERT INTO deadlines (case_id, kind, due_at, step, created_at) "
            f"SELECT id, '{kind}', {column}, 0, updated_at FROM cases "
            "WHERE state NOT IN ('closed', 'false_alarm')"
        )


def _admin_audit() -> None:
    op.create_table(
        "admin_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("detail", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_audit")),
    )
    with op.batch_alter_table("admin_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_admin_audit_at"), ["at"], unique=False)


def downgrade() -> None:
    op.drop_table("admin_audit")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("deferred_until")
        batch_op.drop_column("escalation_level")
        batch_op.drop_column("origin")

    with op.batch_alter_table("shifts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shifts_person_id"))
        batch_op.drop_index(batch_op.f("ix_shifts_grid_id"))

    op.drop_table("shifts")
    with op.batch_alter_table("person_grids", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_grids_person_id"))
        batch_op.drop_index(batch_op.f("ix_person_grids_grid_id"))

    op.drop_table("person_grids")
    with op.batch_alter_table("person_channels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_channels_person_id"))

    op.drop_table("person_channels")
    with op.batch_alter_table("grids", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grids_site_id"))
        batch_op.drop_index(batch_op.f("ix_grids_parent_id"))

    op.drop_table("grids")
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deadlines_due_at"))
        batch_op.drop_index(batch_op.f("ix_deadlines_done_at"))
        batch_op.drop_index(batch_op.f("ix_deadlines_case_id"))

    op.drop_table("deadlines")
    with op.batch_alter_table("case_photos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_photos_case_id"))

    op.drop_table("case_photos")
    with op.batch_alter_table("case_assignees", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_assignees_username"))
        batch_op.drop_index(batch_op.f("ix_case_assignees_case_id"))

    op.drop_table("case_assignees")
    with op.batch_alter_table("case_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_alerts_case_id"))

    op.drop_table("case_alerts")
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_sessions_person_id"))

    op.drop_table("auth_sessions")
    op.drop_table("sites")
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_people_role"))

    op.drop_table("people")
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_attempts_username"))
        batch_op.drop_index(batch_op.f("ix_login_attempts_remote"))
        batch_op.drop_index(batch_op.f("ix_login_attempts_at"))

    op.drop_table("login_attempts")
