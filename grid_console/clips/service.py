"""A case's clip: fetched from its node soon after the node has written it (`prefetch`, run
by the ClipPrefetcher thread), or the first time someone opens the case, whichever comes first;
then served from the database. Fetching ahead matters because a node keeps its clips within a
byte budget: at a busy site the clip of a case nobody opened for a day would be gone. Failures
are recorded on the case's timeline and tried again only after a pause and a few times in all,
so neither a page polled every few seconds nor the prefetcher hammers a node.

What counts as "the clip" is the first of the case's alerts (its own, then joined ones) whose
payload carries `evidence.clip`. The bytes are kept once by sha256 in `snapshots` (as
video/mp4) and linked to the alert in `alert_snapshots`: no table of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from grid_console.auth.roles import Role
from grid_console.cases.models import Case, CaseAlert, CaseEvent
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
    prefetch_s: float = 10.0  # how often to look for clips to fetch ahead; 0: only on open
    prefetch_window_s: float = 86_400.0  # cases opened this recently are fetched ahead
    ready_after_s: float = 3.0  # past the clip's own `after_s`: the node writes it then


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
        # The prefetcher's memory (this process): when to look at a case again (_NEVER: it
        # has no clip, or it was given up).
        self._look_at: dict[int, datetime] = {}

    def get(self, case_id: int, actor: Actor) -> Clip | NoClip:
        """The clip, or why not; raises CaseNotFoundError for a case the actor may not see."""
        view = self._cases.view(case_id, actor)
        return self._get(case_id, view.alert_ids, actor)

    def prefetch(self, now: datetime, limit: int = 20) -> int:
        """Fetch the clips of recent camera cases that the node should have written by now
        and that nobody fetched yet; returns how many cases were asked about (at most
        `limit`, which bounds a pass's time when nodes are slow). A case that has no clip or
        whose clip was given up is not looked at again; one that is not ready or waits for
        its retry, not before then."""
        since = now - timedelta(seconds=self._settings.prefetch_window_s)
        with Session(self._engine) as session:
            fetched = select(CaseEvent.case_id).where(CaseEvent.action == FETCHED)
            in_window = list(
                session.execute(
                    select(Case.id)
                    .where(Case.opened_at >= since, Case.camera.is_not(None),
                           Case.id.not_in(fetched))
                    .order_by(Case.id)
                ).scalars()
            )  # fmt: skip
        # Cases that left the window (or got their clip) are forgotten.
        self._look_at = {i: self._look_at[i] for i in in_window if i in self._look_at}
        asked = 0
        for case_id in in_window:
            if asked >= limit:
                break
            if self._look_at.get(case_id, now) > now:
                continue
            with Session(self._engine) as session:
                alert_ids = _alert_ids(session, case_id)
                ready = _ready_at(session, alert_ids, self._settings.ready_after_s)
            if ready is None or now < ready:  # no clip named; or the node is still writing it
                self._look_at[case_id] = ready or _NEVER
                continue
            asked += 1
            result = self._get(case_id, alert_ids, _PREFETCH)
            if isinstance(result, NoClip):  # waiting for its retry, or given up
                self._look_at[case_id] = result.retry_at or _NEVER
        return asked

    def _get(self, case_id: int, alert_ids: list[str], actor: Actor) -> Clip | NoClip:
        answer = self._known(case_id, alert_ids, actor)
        if not isinstance(answer, _Source):
            return answer
        # One fetch per case at a time in this replica: a second reader (or the prefetcher)
        # waits for the first and then finds the clip stored (or the failure recorded).
        with self._changed:
            while case_id in self._busy:
                self._changed.wait()
            self._busy.add(case_id)
        try:
            answer = self._known(case_id, alert_ids, actor)
            if not isinstance(answer, _Source):
                return answer
            return self._fetch_and_keep(case_id, answer, actor)
        finally:
            with self._changed:
                self._busy.discard(case_id)
                self._changed.notify_all()

    def _known(self, case_id: int, alert_ids: list[str], actor: Actor) -> Clip | NoClip | _Source:
        """What the database already says: the stored clip, a failure not to retry yet, or
        where to fetch it from. The prefetcher's failed tries and people's are counted apart:
        tries ahead of time while a node is away must not use up the tries of the person who
        opens the case once it is back."""
        with Session(self._engine) as session:
            source = _source(session, case_id, alert_ids)
            if source is None:
                return NoClip(Failure.NONE, 0, None)
            stored = _stored(session, source.alert_id)
            if stored is not None:
                return stored
            failures = _failures(session, case_id, actor)
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
            # Locked, then looked at again: another replica may have stored it meanwhile.
            case = session.get(Case, case_id, with_for_update=True)
            assert case is not None  # cases are never deleted
            if isinstance(result, Fetched) and (kept := _stored(session, source.alert_id)):
                return kept
            detail: dict[str, Any] = {"alert_id": source.alert_id, "url": source.url,
                                      "opened_by": actor.username}  # fmt: skip
            if actor is _PREFETCH:
                detail["ahead"] = True  # not a person's try (a user may be called "system")
            if isinstance(result, Fetched):
                digest = store_clip(session, source.alert_id, result.content, now)
                detail.update(sha256=digest, size=len(result.content))
                _audit(session, case, FETCHED, now, detail)
                return Clip(result.content, digest)
            detail.update(reason=result.reason.value, detail=result.detail,
                          http_status=result.http_status)  # fmt: skip
            _audit(session, case, FAILED, now, detail)
            attempts = len(_failures(session, case_id, actor))
            final = result.reason in _FINAL or attempts >= self._settings.max_attempts
            retry_at = None if final else now + timedelta(seconds=self._settings.retry_s)
            return NoClip(result.reason, attempts, retry_at, result.detail)

        return transaction(self._engine, record)


_NEVER = datetime.max.replace(tzinfo=UTC)
_PREFETCH = Actor("system", Role.ADMIN, None)
"""Who fetched a clip ahead of time (the timeline's `opened_by`)."""


def _alert_ids(session: Session, case_id: int) -> list[str]:
    """The case's own alert first, then those that joined it."""
    stmt = select(CaseAlert.alert_id).where(CaseAlert.case_id == case_id).order_by(CaseAlert.id)
    return list(session.execute(stmt).scalars())


def _ready_at(session: Session, alert_ids: list[str], margin_s: float) -> datetime | None:
    """When the node should have written the first clip named among these alerts: the first
    event naming it, as received, plus the clip's `after_s` and a margin."""
    for alert_id in alert_ids:
        rows = session.execute(
            select(AlertEvent.received_at, AlertEvent.payload)
            .where(AlertEvent.alert_id == alert_id)
            .order_by(AlertEvent.seq, AlertEvent.id)
        ).all()
        for received_at, payload in rows:
            if _clip_url(payload) is not None:
                after = payload["evidence"]["clip"].get("after_s", 0.0)
                wait = float(after) if isinstance(after, int | float) else 0.0
                ready: datetime = received_at + timedelta(seconds=max(0.0, wait) + margin_s)
                return ready
    return None


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


def _failures(
    session: Session, case_id: int, actor: Actor
) -> list[tuple[datetime, dict[str, Any]]]:
    """The failed tries of the prefetcher, or of people (whoever `actor` is), oldest first."""
    rows = session.execute(
        select(CaseEvent.at, CaseEvent.detail)
        .where(CaseEvent.case_id == case_id, CaseEvent.action == FAILED)
        .order_by(CaseEvent.id)
    ).all()
    ahead = actor is _PREFETCH
    return [
        (at, dict(detail or {}))
        for at, detail in rows
        if ((detail or {}).get("ahead") is True) == ahead
    ]


def _audit(session: Session, case: Case, action: str, at: datetime, detail: dict[str, Any]) -> None:
    session.add(CaseEvent(case_id=case.id, at=at, actor="system", action=action,
                          from_state=case.state, to_state=case.state, note=None,
                          source="system", detail=detail))  # fmt: skip
