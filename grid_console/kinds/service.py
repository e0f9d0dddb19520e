"""The admin's view of the per-kind settings: list, change, reset; every change recorded in
admin_audit in the same transaction. How cases use them: kinds/overlay.py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grid_console.auth.audit import record
from grid_console.auth.models import AdminAudit
from grid_console.cases.health import KIND_OF
from grid_console.cases.labels import KIND_NAMES, kind_name
from grid_console.cases.models import Case
from grid_console.cases.policy import CasePolicy
from grid_console.clock import Clock
from grid_console.db.session import transaction
from grid_console.kinds.models import KindSetting
from grid_console.kinds.overlay import as_override
from grid_console.kinds.rules import (
    FIELDS,
    Effective,
    Override,
    check_consistent,
    check_kind,
    describe,
    merge_changes,
)

AUDIT_ACTIONS = ("set_kind_settings", "reset_kind_settings")


@dataclass(frozen=True, slots=True)
class KindView:
    effective: Effective
    updated_at: datetime | None
    updated_by: str | None

    def as_json(self) -> dict[str, object]:
        zh, en = kind_name(self.effective.kind)
        admin = any(s == "admin" for s in self.effective.sources.values())
        return {
            "kind": self.effective.kind,
            "name_zh": zh,
            "name_en": en,
            **self.effective.values,
            "source": "admin" if admin else "default",
            "sources": self.effective.sources,
            "defaults": self.effective.defaults,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "updated_by": self.updated_by,
        }


@dataclass(frozen=True, slots=True)
class KindSettingsService:
    engine: Engine
    base: CasePolicy
    clock: Clock

    def all_kinds(self) -> list[KindView]:
        """Every kind the console knows: the contract's, the console's health kinds, those
        named by a flag or a row, and any a case has had (a node may send new kinds)."""
        with Session(self.engine) as session:
            rows = {r.kind: r for r in session.execute(select(KindSetting)).scalars()}
            seen = set(session.execute(select(Case.kind).distinct()).scalars())
        flagged = (
            set(self.base.response_by_kind)
            | set(self.base.handle_by_kind)
            | set(self.base.auto_register)
            | set(self.base.dispatch.by_kind)
        )
        known = list(KIND_NAMES) + sorted(
            (set(KIND_OF.values()) | flagged | set(rows) | seen) - set(KIND_NAMES)
        )
        return [self._view(kind, rows.get(kind)) for kind in known]

    def changes(self, limit: int = 20) -> list[dict[str, object]]:
        """The newest changes from the audit trail: who, when, which kind, before and after."""
        stmt = (
            select(AdminAudit)
            .where(AdminAudit.action.in_(AUDIT_ACTIONS))
            .order_by(AdminAudit.id.desc())
            .limit(limit)
        )
        with Session(self.engine) as session:
            rows = session.execute(stmt).scalars()
            return [
                {"at": r.at.isoformat(), "actor": r.actor, "action": r.action, **r.detail}
                for r in rows
            ]

    def one(self, kind: str) -> KindView:
        check_kind(kind)
        with Session(self.engine) as session:
            return self._view(kind, session.get(KindSetting, kind))

    def update(self, kind: str, changes: Mapping[str, object], actor: str) -> KindView:
        """Set the fields in `changes` (null: back to the flag's value); raises
        KindSettingError naming the field, having changed nothing."""
        check_kind(kind)
        now = self.clock()

        def work(session: Session) -> KindView:
            row = _locked(session, kind)
            before = as_override(row) if row is not None else Override(kind)
            after = merge_changes(before, changes)
            if after == before:
                return self._view(kind, row)  # nothing changed: nothing to record
            check_consistent(self.base, after, changes.keys())
            row = self._store(session, row, after, actor, now)
            _audit(
                session,
                "set_kind_settings",
                kind=kind,
                before=before,
                after=after,
                actor=actor,
                now=now,
            )
            return self._view(kind, row)

        return transaction(self.engine, work)

    def reset(self, kind: str, actor: str) -> KindView:
        """Back to the flags' values for every field."""
        check_kind(kind)
        now = self.clock()

        def work(session: Session) -> KindView:
            row = _locked(session, kind)
            if row is not None:
                _audit(
                    session,
                    "reset_kind_settings",
                    kind=kind,
                    before=as_override(row),
                    after=Override(kind),
                    actor=actor,
                    now=now,
                )
                session.delete(row)
            return self._view(kind, None)

        return transaction(self.engine, work)

    def _store(
        self, session: Session, row: KindSetting | None, after: Override, actor: str, now: datetime
    ) -> KindSetting | None:
        if after.is_empty():
            # Nothing left of the admin's: the kind follows the flags again, as after a reset.
            if row is not None:
                session.delete(row)
            return None
        if row is None:
            row = KindSetting(kind=after.kind, updated_at=now, updated_by=actor)
            try:
                with session.begin_nested():
                    session.add(row)
                    session.flush()
            except IntegrityError:
                # Another replica inserted the kind's row just now: change theirs.
                row = _locked(session, after.kind)
                assert row is not None
        for name in FIELDS:
            setattr(row, name, getattr(after, name))
        row.updated_at, row.updated_by = now, actor
        return row

    def _view(self, kind: str, row: KindSetting | None) -> KindView:
        override = as_override(row) if row is not None else Override(kind)
        return KindView(
            describe(self.base, override),
            row.updated_at if row is not None else None,
            row.updated_by if row is not None else None,
        )


def _locked(session: Session, kind: str) -> KindSetting | None:
    stmt = select(KindSetting).where(KindSetting.kind == kind).with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def _audit(
    session: Session,
    action: str,
    *,
    kind: str,
    before: Override,
    after: Override,
    actor: str,
    now: datetime,
) -> None:
    def fields(o: Override) -> dict[str, object]:
        return {name: getattr(o, name) for name in FIELDS}

    record(session, actor=actor, action=action,
           detail={"kind": kind, "before": fields(before), "after": fields(after)},
           now=now)  # fmt: skip
