"""A case's clip: fetched from its node the first time someone opens the case, then served
from the database. Failures are recorded on the case's timeline and tried again only after a
pause and a few times in all, so a page polled every few seconds never hammers a node.

What counts as "the clip" is the first of the case's alerts (its own, then joined ones) whose
payload carries `evidence.clip`. The bytes are kept once by sha256 in `snapshots` (as
video/mp4) and linked to the alert in `alert_snapshots`: no table of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from grid_console.cases.models import Case, CaseEvent
from grid_console.cases.service import Actor, CaseService
from grid_console.clips.fetch import Failed, Failure, Fetched, FetchLimits, fetch_clip
from grid_console.clips.tokens import NodeTokens
from grid_console.clock import Clock
from grid_console.db.session import transaction
from grid_console.ingest.models import AlertEvent
from grid_console.snapshots.models import AlertSnapshot, Snapshot
from grid_console.snapshots.service import CLIP_TYPE, store_clip

FETCHED = "clip_fetched"
FAILED = "clip_failed"
# Nothing the node can change by waiting: asking again would fail the same way.
_FINAL = frozenset({Failure.BAD_URL, Failure.TOO_BIG, Failure.NOT_MP4})


@dataclass(frozen=True, slots=True)
class ClipSettings:
    limits: FetchLimits = field(default_factory=FetchLimits)
    tokens: NodeTokens = field(default_factory=NodeTokens)
    retry_s: float = 60.0  # the least time between two tries for one case
    max_attempts: int = 5  # failed tries before the case's clip is given up


@dataclass(frozen=True, slots=True)
class Clip:
    content: bytes
    sha256: str


@dataclass(frozen=True, slots=True)
class NoClip:
    reason: Failure
    attempts: int  # failed tries so far
    retry_at: datetime | None  # when it will be tried again; None: never
    detail: str = ""


Fetcher = Callable[[str, str | None, FetchLimits], Fetched | Failed]


@dataclass(frozen=True, slots=True)
class _Source:
    alert_id: str
    url: str
    site: str
    node: str


class ClipService:
    def __init__(
        self,
        cases: CaseService,
        clock: Clock,
        settings: ClipSettings,
        fetcher: Fetcher = fetch_clip,
    ) -> None:
        self._cases = cases
        self._engine: Engine = cases.engine
        self._clock = clock
        self._settings = settings
        self._fetch = fetcher
        self._busy: set[int] = set()
        self._changed = threading.Condition()

    def get(self, case_id: int, actor: Actor) -> Clip | NoClip:
        """The clip, or why not; raises CaseNotFoundError for a case the actor may not see."""
        view = self._cases.view(case_id, actor)
        answer = self._known(case_id, view.alert_ids)
        if not isinstance(answer, _Source):
            return answer
        # One fetch per case at a time in this replica: a second reader waits for the first
        # and then finds the clip stored (or the failure recorded).
        with self._changed:
            while case_id in self._busy:
                self._changed.wait()
            self._busy.add(case_id)
        try:
            answer = self._known(case_id, view.alert_ids)
            if not isinstance(answer, _Source):
                return answer
            return self._fetch_and_keep(case_id, answer, actor)
        finally:
            with self._changed:
                self._busy.discard(case_id)
                self._changed.notify_all()

    def _known(self, case_id: int, alert_ids: list[str]) -> Clip | NoClip | _Source:
        """What the database already says: the stored clip, a failure not to retry yet, or
        where to fetch it from."""
        with Session(self._engine) as session:
            source = _source(session, case_id, alert_ids)
            if source is None:
                return NoClip(Failure.NONE, 0, None)
            stored = _stored(session, source.alert_id)
            if stored is not None:
                return stored
            failures = _failures(session, case_id)
        if not failures:
            return source
        last_at, last = failures[-1]
        reason = Failure(last.get("reason", Failure.UNREACHABLE.value))
        detail = str(last.get("detail", ""))
        if reason in _FINAL or len(failures) >= self._settings.max_attempts:
            return NoClip(reason, len(failures), None, detail)
        retry_at = last_at + timedelta(seconds=self._settings.retry_s)
        if self._clock() < retry_at:
            return NoClip(reason, len(failures), retry_at, detail)
        return source

    def _fetch_and_keep(self, case_id: int, source: _Source, actor: Actor) -> Clip | NoClip:
        token = self._settings.tokens.token_for(source.site, source.node)
        result = self._fetch(source.url, token, self._settings.limits)
        now = self._clock()

        def record(session: Session) -> Clip | NoClip:
            case = session.get(Case, case_id)
            assert case is not None  # cases are never deleted
            detail: dict[str, Any] = {"alert_id": source.alert_id, "url": source.url,
                                      "opened_by": actor.username}  # fmt: skip
            if isinstance(result, Fetched):
                digest = store_clip(session, source.alert_id, result.content, now)
                detail.update(sha256=digest, size=len(result.content))
                _audit(session, case, FETCHED, now, detail)
                return Clip(result.content, digest)
            detail.update(reason=result.reason.value, detail=result.detail,
                          http_status=result.http_status)  # fmt: skip
            _audit(session, case, FAILED, now, detail)
            attempts = len(_failures(session, case_id))
            final = result.reason in _FINAL or attempts >= self._settings.max_attempts
            retry_at = None if final else now + timedelta(seconds=self._settings.retry_s)
            return NoClip(result.reason, attempts, retry_at, result.detail)

        return transaction(self._engine, record)


def _source(session: Session, case_id: int, alert_ids: list[str]) -> _Source | None:
    case = session.get(Case, case_id)
    if case is None or not alert_ids:
        return None
    for alert_id in alert_ids:  # the case's own alert first, then those that joined
        payloads = session.execute(
            select(AlertEvent.payload)
            .where(AlertEvent.alert_id == alert_id)
            .order_by(AlertEvent.seq.desc(), AlertEvent.id.desc())
        ).scalars()
        for payload in payloads:
            url = _clip_url(payload)
            if url is not None:
                return _Source(alert_id, url, case.site, case.node)
    return None


def _clip_url(payload: object) -> str | None:
    if not isinstance(payload, dict):
        return None
    evidence = payload.get("evidence")
    clip = evidence.get("clip") if isinstance(evidence, dict) else None
    url = clip.get("url") if isinstance(clip, dict) else None
    return url if isinstance(url, str) and url else None


def _stored(session: Session, alert_id: str) -> Clip | None:
    found = session.execute(
        select(Snapshot)
        .join(AlertSnapshot, AlertSnapshot.sha256 == Snapshot.sha256)
        .where(AlertSnapshot.alert_id == alert_id, Snapshot.content_type == CLIP_TYPE)
        .limit(1)
    ).scalar_one_or_none()
    return None if found is None else Clip(found.content, found.sha256)


def _failures(session: Session, case_id: int) -> list[tuple[datetime, dict[str, Any]]]:
    rows = session.execute(
        select(CaseEvent.at, CaseEvent.detail)
        .where(CaseEvent.case_id == case_id, CaseEvent.action == FAILED)
        .order_by(CaseEvent.id)
    ).all()
    return [(at, dict(detail or {})) for at, detail in rows]


def _audit(session: Session, case: Case, action: str, at: datetime, detail: dict[str, Any]) -> None:
    session.add(CaseEvent(case_id=case.id, at=at, actor="system", action=action,
                          from_state=case.state, to_state=case.state, note=None,
                          source="system", detail=detail))  # fmt: skip
