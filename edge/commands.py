"""Platform commands arriving on `{prefix}/cmd/{command}`, and their replies.

Every command gets one reply on `{prefix}/responses` (mqtt/schemas/response.json): what was
done, or why not. Malformed input is counted and answered, never raised: this runs on the MQTT
network thread, which must survive anything a platform sends.

Before anything is done, the CommandGate (edge/commandauth.py) checks the signature, age and
nonce; `by` in the audit trail is then the signed acting user, not whatever a sender wrote.
Refusals are answered at a bounded rate (a flood of forged commands must not become a flood of
replies in the outbox); past it they are only counted.

Reloads are coalesced: while one runs, further requests wait for one more reload after it,
which answers them all. A burst of 3,000 reloads is two reloads and one thread, not 3,000.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from edge.alerts.manager import AlertManager, AlertSink
from edge.alerts.payload import iso
from edge.alerts.store import Actor
from edge.clock import Clock
from edge.commandauth import CommandGate
from edge.mqtt.topics import Topics
from grid_contract.signing import CommandRefusedError, Verified

log = logging.getLogger(__name__)

RESPONSE_SCHEMA = "grid-sentinel.response/1"
MAX_COMMAND_BYTES = 64 * 1024
# Replies to refused commands: a burst of this many, then this many per second.
REFUSAL_REPLY_BURST = 20.0
REFUSAL_REPLIES_PER_S = 5.0


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    message: str
    alert_id: str | None = None


class CommandError(ValueError):
    """A command that cannot be carried out; the message goes back to the platform."""


ReloadFn = Callable[[], Outcome]
SnapshotFn = Callable[[str], Outcome]


def _since_s(body: dict[str, object]) -> float | None:
    """`since_ms` (optional, whole milliseconds since the epoch) in seconds."""
    since = body.get("since_ms")
    if since is None:
        return None
    if isinstance(since, bool) or not isinstance(since, int) or since < 0:
        raise CommandError("since_ms must be a whole number of milliseconds, >= 0")
    return since / 1000.0


def _text(body: dict[str, object], name: str, *, required: bool, limit: int = 128) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise CommandError(f"field {name!r} is required")
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise CommandError(f"field {name!r} must be a non-empty string of at most {limit} chars")
    return value


class CommandHandler:
    def __init__(
        self,
        manager: AlertManager,
        topics: Topics,
        sink: AlertSink,
        clock: Clock,
        *,
        reload: ReloadFn,
        snapshot: SnapshotFn,
        gate: CommandGate,
    ) -> None:
        self._manager = manager
        self._topics = topics
        self._sink = sink
        self._clock = clock
        self._snapshot = snapshot
        self._gate = gate
        self._prefix = topics.cmd_base()
        self.counters: Counter[str] = Counter()
        self._reloads = _ReloadQueue(reload, self._respond)
        self._lock = threading.Lock()
        self._reply_tokens = REFUSAL_REPLY_BURST
        self._tokens_at = clock.monotonic()

    @property
    def refused(self) -> Counter[str]:
        """Refused commands by cause (unsigned, bad_signature, stale, replayed, retained...)."""
        return self._gate.refused

    def ignore_retained(self, topic: str) -> None:
        """A retained message on a command topic: never obeyed, never answered, counted."""
        self._gate.ignore_retained(topic)

    def handle(self, topic: str, payload: bytes) -> None:
        command = topic[len(self._prefix) :] if topic.startswith(self._prefix) else topic
        self.counters["received"] += 1
        request_id: str | None = None
        try:
            body = self._parse(payload)
            request_id = _text(body, "request_id", required=False)
            try:
                signer = self._gate.check(topic, body)
            except CommandRefusedError as exc:
                self.counters["refused"] += 1
                if self._may_answer_refusal():
                    self._respond(command, request_id, Outcome(False, f"refused: {exc}"))
                return
            outcome = self._dispatch(command, body, signer, request_id)
            if outcome is None:
                return  # answered later, from another thread
        except CommandError as exc:
            self.counters["rejected"] += 1
            log.warning("command %s on %s refused: %s", command, topic, exc)
            outcome = Outcome(False, str(exc))
        except Exception as exc:
            # A bug must cost one reply, not the network thread.
            self.counters["failed"] += 1
            log.exception("command %s on %s failed", command, topic)
            outcome = Outcome(False, f"internal error: {type(exc).__name__}")
        self._respond(command, request_id, outcome)

    def _parse(self, payload: bytes) -> dict[str, object]:
        if len(payload) > MAX_COMMAND_BYTES:
            raise CommandError(f"payload of {len(payload)} bytes is over {MAX_COMMAND_BYTES}")
        try:
            body = json.loads(payload or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise CommandError(f"payload is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise CommandError("payload must be a JSON object")
        return body

    def _may_answer_refusal(self) -> bool:
        """A token bucket: refusals are answered at a bounded rate, the rest only counted."""
        with self._lock:
            now = self._clock.monotonic()
            self._reply_tokens = min(
                REFUSAL_REPLY_BURST,
                self._reply_tokens + (now - self._tokens_at) * REFUSAL_REPLIES_PER_S,
            )
            self._tokens_at = now
            if self._reply_tokens < 1.0:
                self.counters["refused_unanswered"] += 1
                return False
            self._reply_tokens -= 1.0
            return True

    def _dispatch(
        self,
        command: str,
        body: dict[str, object],
        signer: Verified | None,
        request_id: str | None,
    ) -> Outcome | None:
        if command in ("ack", "release", "resolve"):
            alert_id = _text(body, "alert_id", required=True)
            assert alert_id is not None
            actor = Actor(
                # Signed: the signer named the user. Unsigned (a lab): whatever was written.
                by=signer.by if signer else (_text(body, "by", required=False) or "platform"),
                at=self._clock.now(),
                note=_text(body, "note", required=False, limit=1000),
                command_id=request_id,
            )
            result = self._manager.command(command, alert_id, actor)
            return Outcome(result.ok, result.message, alert_id)
        if command == "reload":
            self._reloads.request(request_id)
            return None
        if command == "resync":
            count, error = self._manager.resync(_since_s(body))
            if error is not None:
                return Outcome(False, f"resent {count} alerts, then stopped: {error}; retry")
            return Outcome(True, f"resent {count} alerts")
        if command == "snapshot":
            camera = _text(body, "camera", required=True)
            assert camera is not None
            return self._snapshot(camera)
        raise CommandError(
            f"unknown command {command!r}; known: ack, release, resolve, reload, resync, snapshot"
        )

    def _respond(self, command: str, request_id: str | None, outcome: Outcome) -> None:
        body = {
            "schema": RESPONSE_SCHEMA,
            "command": command[:64],
            "request_id": request_id,
            "ok": outcome.ok,
            "message": outcome.message[:2000],
            "alert_id": outcome.alert_id,
            "ts": iso(self._clock.now()),
        }
        self._sink.deliver(self._topics.responses(), json.dumps(body, ensure_ascii=False).encode())


class _ReloadQueue:
    """Runs reloads one at a time off the network thread; requests arriving meanwhile are
    answered together by the one reload that follows (what they asked for is the file as it
    is then, and one reload reads it)."""

    MAX_WAITING_IDS = 100

    def __init__(
        self, reload: ReloadFn, respond: Callable[[str, str | None, Outcome], None]
    ) -> None:
        self._reload = reload
        self._respond = respond
        self._lock = threading.Lock()
        self._waiting: list[str | None] = []
        self._coalesced = 0
        self._running = False

    def request(self, request_id: str | None) -> None:
        with self._lock:
            if len(self._waiting) < self.MAX_WAITING_IDS:
                self._waiting.append(request_id)
            else:
                self._coalesced += 1  # answered by count only, in the last reply's message
            if self._running:
                return
            self._running = True
        # Rebuilding cameras (maybe a model) takes seconds: not on the network thread,
        # which must keep acknowledging messages meanwhile. The replies come when done.
        threading.Thread(target=self._run, name="reload", daemon=True).start()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._waiting:
                    self._running = False
                    return
                batch, self._waiting = self._waiting, []
                extra, self._coalesced = self._coalesced, 0
            try:
                outcome = self._reload()
            except Exception as exc:
                log.exception("reload failed")
                outcome = Outcome(False, f"internal error: {type(exc).__name__}")
            if len(batch) + extra > 1:
                log.info("%d reload requests served by one reload", len(batch) + extra)
            for request_id in batch:
                self._respond("reload", request_id, outcome)
