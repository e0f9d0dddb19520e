"""The composition root: builds every part of a console from its Settings and wires them."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI
from sqlalchemy import Engine, text

from grid_console.auth.bootstrap import ensure_admin
from grid_console.auth.service import AuthService
from grid_console.cases.service import CaseService
from grid_console.clips.prefetch import ClipPrefetcher
from grid_console.clips.service import ClipService
from grid_console.clock import Clock, system_clock
from grid_console.commands.keys import read_command_keys
from grid_console.commands.sender import CommandSender
from grid_console.db.engine import make_engine
from grid_console.db.migrate import upgrade
from grid_console.deadlines.job import DeadlineJob, DeadlineWorker
from grid_console.ingest.mqtt import ConsoleMqtt, SessionOptions
from grid_console.ingest.schemas import Validators
from grid_console.ingest.service import IngestService
from grid_console.ingest.stats import IngestStats
from grid_console.ingest.topics import TopicMap
from grid_console.kinds.service import KindSettingsService
from grid_console.metrics.access import MetricsAccess
from grid_console.metrics.collector import ConsoleCollector, console_registry
from grid_console.metrics.route import metrics_router
from grid_console.notify.setup import build_worker
from grid_console.settings import Settings
from grid_console.stats.queries import StatsService
from grid_console.web.app import WebContext, create_app
from grid_console.web.directory import DirectoryApi
from grid_console.web.routes_clip import clip_router
from grid_console.web.routes_kinds import kinds_router
from grid_console.web.routes_notify import snapshot_router
from grid_console.web.routes_quarantine import quarantine_router
from grid_console.web.security import Security
from grid_contract.hosts import is_loopback

logger = logging.getLogger(__name__)


class Console:
    """One console replica: ingest, command sender and web app over one database."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock = system_clock,
        announce: Callable[[str], None] = print,
    ) -> None:
        # Read first: a bad key file refuses the start before anything is created or written.
        self._keys = read_command_keys(settings.command_key_files)
        self.settings = settings
        self._clock = clock
        self._announce = announce
        self.engine: Engine = make_engine(settings.database_url())
        self.stats = IngestStats()
        topics = TopicMap(settings.topic_root, settings.share_group)
        self.ingest = IngestService(
            self.engine,
            topics=topics,
            validators=Validators(settings.schemas_dir),
            policy=settings.policy,
            stats=self.stats,
        )
        self.mqtt = ConsoleMqtt(
            settings.broker,
            SessionOptions(settings.client_id, session_expiry_s=settings.session_expiry_s),
            topics.filters(),
            self.ingest.handle,
            clock,
            on_error=self.stats.count_error,
        )
        self.sender = CommandSender(
            self.engine, self.mqtt, self._keys, clock, owner=settings.client_id
        )
        self.cases = CaseService(self.engine, settings.policy)
        self.auth = AuthService(self.engine)
        self.deadlines = DeadlineJob(self.engine, settings.policy, owner=settings.client_id)
        self._deadline_worker = DeadlineWorker(
            self.deadlines, clock, poll_s=settings.deadline_poll_s
        )
        self.notifier = build_worker(self.engine, clock, settings.notify, owner=settings.client_id,
                                     host=settings.host, port=settings.port)  # fmt: skip
        self.app: FastAPI = create_app(
            WebContext(
                cases=self.cases,
                auth=self.auth,
                clock=clock,
                health=self.health,
                directory=DirectoryApi(self.engine, clock),
                command_enqueued=self.sender.wake,
                stats=StatsService(self.engine),
                cookie_secure=settings.cookie_secure,
                timezone=settings.policy.dispatch.timezone,
            )
        )
        # Public, as notification links must be (web/routes_notify.py says why).
        self.app.include_router(snapshot_router(self.engine))
        self.metrics = console_registry(
            ConsoleCollector(self.engine, self.stats, lambda: self.mqtt.connected, clock)
        )
        access = MetricsAccess(
            Security(self.auth, clock, settings.cookie_secure),
            settings.metrics_token_file,
            listens_on_loopback=is_loopback(settings.host),
        )
        self.app.include_router(metrics_router(self.metrics, access))
        self.app.include_router(quarantine_router(self.engine, access.security))
        self.clips = ClipService(self.cases, clock, settings.clips)
        self._clip_prefetcher = ClipPrefetcher(self.clips, clock, poll_s=settings.clips.prefetch_s)
        self.app.include_router(clip_router(self.clips, access.security))
        # Admins' per-kind timers and routing over the serve options (kinds/).
        self.kinds = KindSettingsService(self.engine, settings.policy, clock)
        self.app.include_router(kinds_router(self.kinds, access.security))

    def start(self) -> None:
        revision = upgrade(self.engine)
        logger.info("database %s at revision %s", self.engine.url.render_as_string(), revision)
        ensure_admin(
            self.engine,
            self._clock(),
            password=self.settings.admin_password,
            announce=self._announce,
        )
        self.mqtt.start()
        self.sender.start()
        self.notifier.start()
        self._deadline_worker.start()
        self._clip_prefetcher.start()

    def stop(self) -> None:
        self._clip_prefetcher.stop()
        self._deadline_worker.stop()
        self.notifier.stop()
        self.sender.stop()
        self.mqtt.stop()
        self.engine.dispose()

    def health(self) -> dict[str, object]:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            database = "ok"
        except Exception as exc:
            database = f"unavailable: {type(exc).__name__}"
        return {
            "database": database,
            "backend": self.engine.dialect.name,
            "mqtt": "connected" if self.mqtt.connected else "disconnected",
            # Why the last connect failed (a refused login, a TLS error); None once connected.
            "mqtt_error": self.mqtt.last_error,
            # Whether any command key is present; which nodes have one, and which have
            # commands waiting because they have none, below.
            "command_key": bool(self._keys),
            "command_keys": {
                **self._keys.describe(),
                "waiting_for_key": self.sender.waiting_for_key,
            },
            "ingest": self.stats.snapshot(),
        }
