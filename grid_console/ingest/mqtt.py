"""The console's one MQTT connection: persistent session in, acknowledged only once applied.

MQTT 5 with a fixed client id, clean start off and a session expiry: while the console is down
or restarting, the broker keeps its subscriptions and queues every QoS 1 message for it.

Acknowledgement is manual. `on_message` (paho's network thread) only queues the message; one
worker thread applies it to the database and only then sends the PUBACK. So a crash, a kill or
a database outage between receipt and commit leaves the message unacknowledged, and the broker
delivers it again when the session resumes; the database's unique (alert_id, seq) makes that
repeat harmless. The network thread never waits for the database, and the broker never sends
more than `receive_maximum` unacknowledged messages, which bounds the queue.

PUBACKs must go out in the order the messages came (MQTT 5, 4.6), which one worker gives. A
message received on an earlier connection is not acknowledged on a later one (its packet id
means another message there): the broker redelivers it, and it is deduplicated.

Routing is done here, in `on_message`, for every message: paho's per-filter callbacks and
`topic_matches_sub` do not understand `$share/{group}/...` filters.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from grid_console.clock import Clock
from grid_console.failures import FailureLog
from grid_console.ingest.broker import BrokerAddress
from grid_console.ingest.service import Inbound
from grid_contract.broker_tls import describe_connect_error

logger = logging.getLogger(__name__)

Handler = Callable[[Inbound], object]
ErrorCounter = Callable[[], None]


@dataclass(frozen=True, slots=True)
class SessionOptions:
    client_id: str
    session_expiry_s: int = 7 * 24 * 3600  # a week of console downtime is still delivered
    keepalive_s: int = 30
    receive_maximum: int = 100
    retry_min_s: float = 0.5
    retry_max_s: float = 30.0


@dataclass(frozen=True, slots=True)
class _Item:
    connection: int
    mid: int
    qos: int
    inbound: Inbound


class ConsoleMqtt:
    """Owns the paho client; `publish` may be called from any thread."""

    def __init__(
        self,
        address: BrokerAddress,
        options: SessionOptions,
        filters: list[str],
        handler: Handler,
        clock: Clock,
        *,
        on_error: ErrorCounter = lambda: None,
    ) -> None:
        if not options.client_id:
            raise ValueError("a persistent session needs a fixed, non-empty client id")
        self._address = address
        self._options = options
        self._filters = list(filters)
        self._handler = handler
        self._clock = clock
        self._on_error = on_error
        self._lock = threading.Lock()
        self._connection = 0
        self._connected = threading.Event()
        self._last_error: str | None = None
        self._subscribed = threading.Event()
        self._stopping = threading.Event()
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="console-ingest", daemon=True)
        # One for the worker thread, across messages: an outage fails message after message.
        self._failures = FailureLog(logger, "MQTT ingest", clock)
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=options.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        if address.username is not None:
            self._client.username_pw_set(address.username, address.password)
        context = address.tls_context()  # a ValueError names a bad file, before any thread
        if context is not None:
            self._client.tls_set_context(context)
        self._client.reconnect_delay_set(1, 10)
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def last_error(self) -> str | None:
        """Why the last attempt to connect failed (None once connected): for /api/health."""
        return self._last_error

    def wait_subscribed(self, timeout: float) -> bool:
        return self._subscribed.wait(timeout)

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self._options.session_expiry_s
        props.ReceiveMaximum = self._options.receive_maximum
        self._worker.start()
        self._client.connect_async(
            self._address.host,
            self._address.port,
            keepalive=self._options.keepalive_s,
            clean_start=False,
            properties=props,
        )
        self._client.loop_start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking messages; what is queued but not applied stays unacknowledged, so the
        broker delivers it again next time."""
        self._stopping.set()
        self._queue.put(None)
        self._worker.join(timeout)
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, topic: str, payload: bytes, timeout_s: float) -> bool:
        """Publish at QoS 1; True once the broker acknowledged it (PUBACK) within `timeout_s`."""
        if not self._connected.is_set():
            return False
        info = self._client.publish(topic, payload, qos=1, retain=False)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return False
        try:
            info.wait_for_publish(timeout_s)
        except (RuntimeError, ValueError):
            return False
        return info.is_published()

    # paho callbacks (network thread)

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            # A wrong password or a banned account: paho connects again after its delay, so a
            # fixed password file (with a restart) or a fixed broker account is picked up.
            self._last_error = refusal(reason_code)
            logger.error("broker %s: %s; retrying", self._address.url, self._last_error)
            return
        self._last_error = None
        with self._lock:
            self._connection += 1
        logger.info(
            "connected to %s as %s (session %s)",
            self._address.url,
            self._options.client_id,
            "resumed" if flags.session_present else "new",
        )
        # Also on a resumed session: subscribing again is harmless and covers a broker that
        # lost its persistence file.
        client.subscribe([(f, 1) for f in self._filters])
        self._connected.set()

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, *args: Any) -> None:
        self._subscribed.set()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # paho calls this inside its `except OSError`, so the cause (a TLS error among them)
        # is still at hand.
        message, is_tls = describe_connect_error(sys.exc_info()[1])
        self._last_error = message
        log = logger.error if is_tls else logger.warning
        log("cannot connect to broker %s: %s; retrying", self._address.url, message)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, *args: Any) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        # After a refused login the refusal was logged already; this is only its close.
        if was_connected and not self._stopping.is_set():
            logger.warning("lost the broker %s; reconnecting", self._address.url)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        inbound = Inbound(
            topic=message.topic,
            payload=bytes(message.payload),
            received_at=self._clock(),
            retained=bool(message.retain),
        )
        with self._lock:
            connection = self._connection
        self._queue.put(_Item(connection, message.mid, message.qos, inbound))

    # the worker thread

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None or self._stopping.is_set():
                return
            if self._apply(item.inbound):
                self._ack(item)

    def _apply(self, inbound: Inbound) -> bool:
        delay = self._options.retry_min_s
        while not self._stopping.is_set():
            try:
                self._handler(inbound)
            except Exception as exc:
                # The handler quarantines bad messages itself; what reaches here is the
                # database being unavailable. Keep the message and retry: never drop it.
                self._on_error()
                self._failures.failed(exc, "cannot apply a message on %s; retrying", inbound.topic)
                self._stopping.wait(delay)
                delay = min(delay * 2, self._options.retry_max_s)
            else:
                self._failures.succeeded()
                return True
        return False

    def _ack(self, item: _Item) -> None:
        if item.qos == 0:
            return
        with self._lock:
            current = item.connection == self._connection
        if current:
            self._client.ack(item.mid, item.qos)


# MQTT 5 CONNACK reason codes of a refused login (Mosquitto answers 134 to a wrong password).
_LOGIN_CODES = frozenset({134, 135})


def refusal(reason: ReasonCode) -> str:
    """Words for a refused CONNECT: the reason's name and number, and what to check."""
    text = (
        f"代理拒绝了控制台的连接 / the broker refused the console's connection: {reason} "
        f"(reason code {reason.value})"
    )
    if reason.value in _LOGIN_CODES:
        text += "; check --broker-username and --broker-password-file"
    return text
