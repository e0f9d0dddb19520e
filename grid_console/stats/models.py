"""Indexes the figures need on tables that other packages own (declared here, so the figures'
needs sit with the figures; db/models.py imports this module, so Alembic compares them too).

- case_events (action, at): "the rows of this action in the period", for every count;
- case_events (case_id, at): a case's last row before a moment (its state then), and "no
  earlier row of this action" for the first-row figures;
- cases (opened_at): the cases reported in the period;
- cases (closed_at, opened_at): with the state index, the cases that were open at a moment
  (both columns in the index: no table lookups for the many closed long after).
"""

from __future__ import annotations

from sqlalchemy import Index

from grid_console.cases.models import Case, CaseEvent

CASE_EVENTS_ACTION_AT = Index("ix_case_events_action_at", CaseEvent.action, CaseEvent.at)
CASE_EVENTS_CASE_AT = Index("ix_case_events_case_id_at", CaseEvent.case_id, CaseEvent.at)
CASES_OPENED_AT = Index("ix_cases_opened_at", Case.opened_at)
CASES_CLOSED_AT = Index("ix_cases_closed_at_opened_at", Case.closed_at, Case.opened_at)
