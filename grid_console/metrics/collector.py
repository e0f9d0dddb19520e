"""The console's metrics as a prometheus_client collector, read fresh at every scrape.

Nothing is kept between scrapes: the process's own counters live in IngestStats (one per
console), the rest is counted from the database. Each app builds its own CollectorRegistry,
so two consoles in one process (the tests, replicas) never share or clash.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from grid_console.cases.machine import Colour, State
from grid_console.clock import Clock
from grid_console.ingest.stats import IngestStats, Outcome
from grid_console.metrics.queries import DbFigures, db_figures

logger = logging.getLogger(__name__)


class ConsoleCollector(Collector):
    def __init__(
        self,
        engine: Engine,
        stats: IngestStats,
        mqtt_connected: Callable[[], bool],
        clock: Clock,
    ) -> None:
        self._engine = engine
        self._stats = stats
        self._mqtt_connected = mqtt_connected
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        yield from self._process()
        try:
            with Session(self._engine) as session:
                figures = db_figures(session, self._clock())
        except Exception as exc:
            # A scrape while the database is down says so instead of failing: the process
            # counters above are still worth having, and `up` stays 1 for the process.
            logger.warning("metrics: database unavailable: %s", type(exc).__name__)
            yield _gauge("gs_console_database_up", "1 when the database answered this scrape.", 0)
            return
        yield _gauge("gs_console_database_up", "1 when the database answered this scrape.", 1)
        yield from _database(figures)

    def _process(self) -> Iterator[Metric]:
        snap = self._stats.snapshot()
        outcomes = snap["outcomes"]
        quarantined = snap["quarantined"]
        assert isinstance(outcomes, dict) and isinstance(quarantined, dict)
        messages = CounterMetricFamily(
            "gs_console_ingest_messages",
            "MQTT messages this replica handled, by outcome (since it started).",
            labels=["outcome"],
        )
        for outcome in Outcome:  # every outcome, zero included, so rate() has a series
            messages.add_metric([outcome.value], float(outcomes.get(outcome.value, 0)))
        yield messages
        refused = CounterMetricFamily(
            "gs_console_ingest_quarantined",
            "Messages this replica put in quarantine, by reason (since it started).",
            labels=["reason"],
        )
        for reason, count in sorted(quarantined.items()):
            refused.add_metric([str(reason)], float(count))
        yield refused
        yield CounterMetricFamily(
            "gs_console_ingest_retried_errors",
            "Messages this replica could not apply yet (database down) and retried.",
            value=float(int(str(snap["retried_errors"]))),
        )
        yield _gauge(
            "gs_console_mqtt_connected",
            "1 while this replica is connected to the broker.",
            1 if self._mqtt_connected() else 0,
        )


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=value)


def _database(figures: DbFigures) -> Iterator[Metric]:
    cases = GaugeMetricFamily(
        "gs_console_cases_open",
        "Open cases (not closed, not a false alarm) by state and colour; red includes overdue.",
        labels=["state", "colour"],
    )
    for state in State:
        if state in (State.CLOSED, State.FALSE_ALARM):
            continue
        for colour in Colour:
            count = figures.open_cases.get((state.value, colour.value), 0)
            if count or colour in (Colour.RED, Colour.YELLOW):
                cases.add_metric([state.value, colour.value], count)
    yield cases
    overdue = GaugeMetricFamily(
        "gs_console_cases_overdue", "Open cases past a deadline, by kind.", labels=["kind"]
    )
    for kind, count in sorted(figures.overdue.items()):
        overdue.add_metric([kind], count)
    yield overdue
    deliveries = GaugeMetricFamily(
        "gs_console_notify_deliveries",
        "Notification deliveries by state (pending, sent, failed) and channel.",
        labels=["state", "channel"],
    )
    for (state_code, channel), count in sorted(figures.deliveries.items()):
        deliveries.add_metric([state_code, channel], count)
    yield deliveries
    quarantine = GaugeMetricFamily(
        "gs_console_quarantine_rows",
        "Payloads kept in quarantine by every replica, by reason.",
        labels=["reason"],
    )
    for reason, count in sorted(figures.quarantine.items()):
        quarantine.add_metric([reason], count)
    yield quarantine
    yield _gauge(
        "gs_console_command_outbox_pending",
        "Commands to nodes not yet acknowledged by the broker.",
        figures.outbox_pending,
    )


def console_registry(collector: ConsoleCollector) -> CollectorRegistry:
    # auto_describe off: registering must not run the collector (and touch the database).
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry
