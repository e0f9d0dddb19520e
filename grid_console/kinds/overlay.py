"""The policy a case is handled by: the serve options with the admins' per-kind rows over them.

Called inside the transaction that opens, re-opens or dispatches a case, reading the rows there
and then with no cache: a change committed on one replica holds on every replica from its next
case. The table has a row per changed kind (a few dozen at most), so this is one small query
beside the several the case needs anyway.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from grid_console.cases.policy import CasePolicy
from grid_console.kinds.models import KindSetting
from grid_console.kinds.rules import Override, apply_overrides


def as_override(row: KindSetting) -> Override:
    return Override(row.kind, row.response_s, row.handle_s, row.auto_register, row.dispatch)


def effective_policy(session: Session, base: CasePolicy) -> CasePolicy:
    """`base` (the serve options) with every kind's override laid over it."""
    rows = session.execute(select(KindSetting)).scalars()
    return apply_overrides(base, (as_override(row) for row in rows))
