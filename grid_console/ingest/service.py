"""One MQTT message in, one transaction out: validate, then apply once, or quarantine.

Nothing a node (or anyone with broker access) publishes can crash the ingest: a message that
is not JSON, breaks its schema, is too big or comes on an unexpected topic is stored in the
quarantine table with the reason, counted, and acknowledged. An alert event is inserted into
alert_events first; the unique (alert_id, seq) makes a repeat a no-op, whichever replica or
redelivery it comes from, and the case changes in the same transaction as that insert.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from grid_console.cases.flows import CaseChange, apply_alert_event
from grid_console.cases.health import apply_health
from grid_console.cases.models import Case
from grid_console.cases.policy import CasePolicy
from grid_console.db.limits import too_long
from grid_console.db.session import is_transient, transaction
from grid_console.ingest.models import AlertEvent, Quarantined
from grid_console.ingest.payloads import AlertPayload
from grid_console.ingest.schemas import Validators
from grid_console.ingest.stats import IngestStats, Outcome
from grid_console.ingest.topics import Channel, Route, TopicMap
from grid_console.nodes.models import Device, Node
from grid_console.nodes.service import record_device, record_status
from grid_console.snapshots.service import store_snapshot

logger = logging.getLogger(__name__)

_SCHEMA_OF = {
    Channel.ALERT: "alert",
    Channel.STATUS: "status",
    Channel.CAMERA_STATE: "camera_state",
    Channel.SENSOR_STATE: "sensor_state",
}


@dataclass(frozen=True, slots=True)
class Inbound:
    topic: str
    payload: bytes
    received_at: datetime
    retained: bool = False


@dataclass(frozen=True, slots=True)
class Limits:
    max_json_bytes: int = 256 * 1024  # the node's largest alert event is a few KiB
    max_snapshot_bytes: int = 8 * 1024 * 1024
    max_quarantined_bytes: int = 64 * 1024  # what is kept of an oversized payload


class RejectedError(Exception):
    """A message that goes to quarantine: `reason` is a short label, `detail` says what."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class IngestService:
    def __init__(
        self,
        engine: Engine,
        *,
        topics: TopicMap,
        validators: Validators,
        policy: CasePolicy,
        stats: IngestStats,
        limits: Limits = Limits(),
    ) -> None:
        self._engine = engine
        self._topics = topics
        self._validators = validators
        self._policy = policy
        self._stats = stats
        self._limits = limits
        self._warned: set[str] = set()

    def handle(self, msg: Inbound) -> Outcome:
        """Apply `msg`; raise only when the database is unavailable (the caller retries)."""
        try:
            outcome = self._apply(msg)
        except RejectedError as rejected:
            return self._reject(msg, rejected)
        except DBAPIError as exc:
            if is_transient(exc):
                raise
            # The database refuses this message and always will: retrying would stop the
            # ingest behind it.
            logger.exception("the database refused a message on %s", msg.topic)
            return self._reject(msg, RejectedError("db_refused", str(exc.orig)[:500]))
        except Exception as exc:
            # A bug met by one message must not stop every message after it.
            logger.exception("cannot apply a message on %s", msg.topic)
            return self._reject(msg, RejectedError("internal_error", repr(exc)[:500]))
        self._stats.count(outcome)
        return outcome

    def _reject(self, msg: Inbound, rejected: RejectedError) -> Outcome:
        self._quarantine(msg, rejected)
        self._stats.count(Outcome.QUARANTINED, rejected.reason)
        return Outcome.QUARANTINED

    def _apply(self, msg: Inbound) -> Outcome:
        route = self._topics.route(msg.topic)
        if route is None:
            raise RejectedError("unexpected_topic", "not a topic of the node contract")
        if route.channel is Channel.SNAPSHOT:
            return self._snapshot(msg, route)
        if not msg.payload and route.channel is not Channel.ALERT:
            return Outcome.IGNORED  # a retained state cleared by hand (a node taken away)
        doc = self._decode(msg, route.channel)
        if route.channel is Channel.ALERT:
            return self._alert(msg, route, doc)
        _check_lengths(route, doc)
        if route.channel is Channel.STATUS:
            transaction(self._engine, lambda s: self._status(s, route, doc, msg.received_at))
        else:
            kind = "camera" if route.channel is Channel.CAMERA_STATE else "sensor"
            transaction(self._engine, lambda s: self._device(s, route, kind, doc, msg.received_at))
        return Outcome.STATE

    def _status(self, session: Session, route: Route, doc: dict[str, Any], at: datetime) -> None:
        record_status(session, route, doc, at)
        apply_health(
            session,
            site=route.site,
            node=route.node,
            prefix=route.prefix,
            subject="node",
            device_id=None,
            state=doc["state"],
            at=at,
            policy=self._policy,
        )

    def _device(
        self, session: Session, route: Route, kind: str, doc: dict[str, Any], at: datetime
    ) -> None:
        record_device(session, route, kind, doc, at)
        apply_health(
            session,
            site=route.site,
            node=route.node,
            prefix=route.prefix,
            subject=kind,
            device_id=route.subject,
            state=doc["state"],
            at=at,
            policy=self._policy,
        )

    def _decode(self, msg: Inbound, channel: Channel) -> dict[str, Any]:
        if len(msg.payload) > self._limits.max_json_bytes:
            raise RejectedError(
                "oversized", f"{len(msg.payload)} bytes, limit {self._limits.max_json_bytes}"
            )
        try:
            doc = json.loads(msg.payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise RejectedError("not_json", str(exc)[:500]) from None
        problem = self._validators.problem(_SCHEMA_OF[channel], doc)
        if problem is not None:
            raise RejectedError("schema", f"{_SCHEMA_OF[channel]}.json: {problem}")
        assert isinstance(doc, dict)  # every schema of the contract is an object
        return doc

    def _alert(self, msg: Inbound, route: Route, doc: dict[str, Any]) -> Outcome:
        alert = AlertPayload.from_valid(doc)
        if alert.kind != route.subject:
            raise RejectedError(
                "topic_mismatch", f"kind {alert.kind!r} on topic of {route.subject!r}"
            )
        problem = too_long(Case, _case_columns(alert, route)) or too_long(
            AlertEvent, {"event": alert.event, "kind": alert.kind, "topic": msg.topic}
        )
        if problem is not None:
            raise RejectedError("too_long", problem)
        return transaction(self._engine, lambda s: self._apply_alert(s, msg, route, alert))

    def _apply_alert(
        self, session: Session, msg: Inbound, route: Route, alert: AlertPayload
    ) -> Outcome:
        event = AlertEvent(
            alert_id=alert.id,
            seq=alert.seq,
            event=alert.event,
            kind=alert.kind,
            topic=msg.topic,
            payload=alert.raw,
            received_at=msg.received_at,
        )
        try:
            with session.begin_nested():
                session.add(event)
                session.flush()
        except IntegrityError:
            return Outcome.DUPLICATE
        result = apply_alert_event(
            session, alert, prefix=route.prefix, received_at=msg.received_at, policy=self._policy
        )
        logger.info(
            "alert %s %s seq=%d kind=%s: case %d %s",
            alert.id,
            alert.event,
            alert.seq,
            alert.kind,
            result.case_id,
            result.change.value,
        )
        return Outcome.HISTORY if result.change is CaseChange.HISTORY else Outcome.APPLIED

    def _snapshot(self, msg: Inbound, route: Route) -> Outcome:
        if not msg.payload:
            return Outcome.IGNORED
        if len(msg.payload) > self._limits.max_snapshot_bytes:
            raise RejectedError(
                "oversized", f"{len(msg.payload)} bytes, limit {self._limits.max_snapshot_bytes}"
            )
        alert_id = route.alert_id or ""
        transaction(
            self._engine, lambda s: store_snapshot(s, alert_id, msg.payload, msg.received_at)
        )
        return Outcome.SNAPSHOT

    def _quarantine(self, msg: Inbound, rejected: RejectedError) -> None:
        kept = msg.payload[: self._limits.max_quarantined_bytes]
        row = Quarantined(
            topic=msg.topic[:1024],
            payload=kept,
            size=len(msg.payload),
            reason=rejected.reason,
            detail=rejected.detail,
            received_at=msg.received_at,
        )
        transaction(self._engine, lambda s: s.add(row))
        # One warning per reason, then quiet: a flood of garbage must not flood the log too.
        level = logging.INFO if rejected.reason in self._warned else logging.WARNING
        self._warned.add(rejected.reason)
        logger.log(level, "quarantined a message on %s: %s", msg.topic, rejected)


def _case_columns(alert: AlertPayload, route: Route) -> dict[str, object]:
    return {
        "kind": alert.kind,
        "severity": alert.severity,
        "grid": alert.grid,
        "building": alert.building,
        "floor": alert.floor,
        "site": alert.site,
        "node": alert.node,
        "node_prefix": route.prefix,
        "camera": alert.camera,
        "zone": alert.zone,
        "sensor": alert.sensor,
        "alert_state": alert.state,
    }


def _check_lengths(route: Route, doc: dict[str, Any]) -> None:
    where = {"site": route.site, "node": route.node}
    if route.channel is Channel.STATUS:
        site = doc.get("site")
        problem = too_long(
            Node,
            {
                **where,
                "status": doc.get("state"),
                "prefix": route.prefix,
                "site_name": site.get("name") if isinstance(site, dict) else None,
                "version": doc.get("version"),
            },
        )
    else:
        problem = too_long(Device, {**where, "state": doc.get("state"), "device_id": route.subject})
    if problem is not None:
        raise RejectedError("too_long", problem)
