"""The node's one MQTT connection: connect, stay connected, announce online/offline.

`MqttLink` owns the paho-mqtt client (v2 callback API, MQTT 3.1.1). It reconnects on its own with
exponential backoff, registers a retained `offline` last will, publishes a retained `online`
status on every (re)connect and re-subscribes every handler.

Durability is not the link's job: paho's own retry queue is emptied on every reconnect (see
`_on_connect`), so `publish` is at-most-once per connection. Messages that must arrive go through
the outbox and the Publisher, which resends from the oldest unacknowledged row in order.

Logging in (user name, password, TLS) is described by `BrokerAddress` (see `security.py`). A
failed attempt (broker unreachable, TLS handshake refused, login refused by CONNACK) is never
raised: it is logged once in words, retried with backoff, and kept in `last_error` until the
next successful connect. The password never reaches a log line, an error or a repr.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.clock import Clock
from edge.mqtt.security import (
    BrokerAddress,
    describe_login_drop,
    describe_refusal,
    parse_broker_url,
)
from grid_contract.broker_tls import TlsOptions, describe_connect_error

__all__ = [
    "BrokerAddress",
    "ConnectionListener",
    "MessageHandler",
    "MqttLink",
    "PublishHandle",
    "PublishListener",
    "TlsOptions",
    "parse_broker_url",
]

logger = logging.getLogger(__name__)

_STOP_PUBLISH_TIMEOUT_S = 2.0

ConnectionListener = Callable[[bool], None]
PublishListener = Callable[[int], None]
MessageHandler = Callable[[str, bytes], None]
RetainedHandler = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class PublishHandle:
    """One publish handed to paho; `is_published()` turns true when its PUBACK arrives.

    `session` is the number of the connection it was sent on (None when the link was down):
    a PUBACK can only come on that connection, so after a reconnect the handle is void.
    """

    mid: int
    session: int | None
    info: mqtt.MQTTMessageInfo

    @property
    def sent(self) -> bool:
        """Whether paho accepted it for the current connection (False: link was down)."""
        return self.info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    def is_published(self) -> bool:
        if not self.sent:
            return False
        return bool(self.info.is_published())


class MqttLink:
    """Owns the node's MQTT client; thread-safe; callbacks run on paho's network thread."""

    def __init__(
        self,
        address: BrokerAddress,
        *,
        client_id: str,
        status_topic: str,
        online_payload: Callable[[], bytes],
        offline_payload: bytes,
        clock: Clock,
        keepalive_s: int = 30,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        clean_session: bool = True,
    ) -> None:
        if not client_id:
            raise ValueError("client_id must not be empty: the broker keys the last will on it")
        if not 0 < reconnect_min_s <= reconnect_max_s:
            raise ValueError("need 0 < reconnect_min_s <= reconnect_max_s")
        self._address = address
        self._status_topic = status_topic
        self._online_payload = online_payload
        self._offline_payload = offline_payload
        self._clock = clock
        self._keepalive_s = keepalive_s
        self._lock = threading.Lock()
        self._state_changed = threading.Condition(self._lock)
        self._session: int | None = None
        self._sessions = 0
        self._down_since: float | None = None
        self._last_error: str | None = None
        self._refused = False
        self._paho_error: str | None = None
        self._started = False
        self._stopped = False
        self._connection_listeners: list[ConnectionListener] = []
        self._publish_listeners: list[PublishListener] = []
        self._handlers: dict[str, tuple[int, MessageHandler, RetainedHandler | None]] = {}
        self._client = self._make_client(client_id, clean_session, reconnect_min_s, reconnect_max_s)

    def _make_client(
        self, client_id: str, clean_session: bool, min_s: float, max_s: float
    ) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_session,
            protocol=MQTTProtocolVersion.MQTTv311,
        )
        # The Publisher bounds what is in flight; paho's own limit (20) would only park messages
        # in a second, invisible queue.
        client.max_inflight_messages = 0
        client.will_set(self._status_topic, self._offline_payload, qos=1, retain=True)
        if self._address.username is not None:
            client.username_pw_set(self._address.username, self._address.password)
        if self._address.tls:
            # Raises TlsConfigError (a ValueError) at once for an unusable CA, cert or key file:
            # that is a configuration mistake, not something a retry could fix.
            client.tls_set_context((self._address.tls_options or TlsOptions()).context())
        # paho annotates these as int but does float arithmetic with them; sub-second
        # backoff matters for tests and for a quick return after a broker restart.
        client.reconnect_delay_set(min_delay=cast(int, min_s), max_delay=cast(int, max_s))
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_log = self._on_paho_log
        return client

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Begin connecting in the background; returns at once, even if the broker is down."""
        with self._lock:
            if self._started:
                return
            self._started = True
            self._down_since = self._clock.monotonic()
        logger.info("connecting to MQTT broker %s", self._address.display())
        self._client.connect_async(self._address.host, self._address.port, self._keepalive_s)
        self._client.loop_start()

    def stop(self) -> None:
        """Publish the retained offline status (a clean disconnect suppresses the will), leave."""
        with self._lock:
            if not self._started or self._stopped:
                return
            self._stopped = True
            was_connected = self._session is not None
        if was_connected:
            info = self._client.publish(
                self._status_topic, self._offline_payload, qos=1, retain=True
            )
            try:
                info.wait_for_publish(_STOP_PUBLISH_TIMEOUT_S)
            except (RuntimeError, ValueError):
                logger.warning("could not publish offline status before disconnecting")
        self._client.disconnect()
        self._client.loop_stop()
        self._client.drop_out_messages()
        with self._lock:
            self._session = None
            self._state_changed.notify_all()
        logger.info("disconnected from MQTT broker %s", self._address.display())

    # -- state -----------------------------------------------------------------------------

    @property
    def address(self) -> BrokerAddress:
        """Where the link connects; use `address.display()` in logs (no password)."""
        return self._address

    @property
    def last_error(self) -> str | None:
        """Why the latest connection attempt failed, in words; None once connected.

        E.g. "TLS handshake failed: broker certificate not trusted (unable to get local
        issuer certificate)" or "broker refused the login: Not authorized; ...".
        """
        with self._lock:
            return self._last_error

    def __repr__(self) -> str:
        return f"MqttLink({self._address.display()}, connected={self.connected})"

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._session is not None

    @property
    def down_since(self) -> float | None:
        """Monotonic time the link was last lost (or started unconnected); None while up."""
        with self._lock:
            return None if self._session is not None else self._down_since

    @property
    def session(self) -> int | None:
        """The number of the current connection (1, 2, ...), or None while disconnected."""
        with self._lock:
            return self._session

    def wait_connected(self, timeout: float) -> bool:
        with self._state_changed:
            return self._state_changed.wait_for(lambda: self._session is not None, timeout)

    def add_connection_listener(self, cb: ConnectionListener) -> None:
        """`cb(True)` after every (re)connect, `cb(False)` on every loss; on paho's thread."""
        with self._lock:
            self._connection_listeners.append(cb)

    def add_publish_listener(self, cb: PublishListener) -> None:
        """`cb(mid)` when the broker confirms a QoS 1/2 publish; on paho's thread, keep it short."""
        with self._lock:
            self._publish_listeners.append(cb)

    # -- traffic ---------------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> PublishHandle:
        """Hand a message to the broker; at most once per connection (see module docstring)."""
        session = self.session
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        return PublishHandle(mid=info.mid, session=session, info=info)

    def subscribe(
        self,
        topic: str,
        qos: int,
        handler: MessageHandler,
        *,
        on_retained: RetainedHandler | None = None,
    ) -> None:
        """Route messages matching `topic` to `handler(topic, payload)`; kept across reconnects.

        With `on_retained`, a retained message (one the broker kept from the past and replays
        on every subscribe) goes to `on_retained(topic)` instead of the handler.
        """
        with self._lock:
            self._handlers[topic] = (qos, handler, on_retained)
            connected = self._session is not None
        if connected:
            self._client.subscribe(topic, qos)

    # -- paho callbacks (network thread) ---------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            with self._lock:
                self._refused = True
            self._report_failure(describe_refusal(str(reason_code)), logging.ERROR)
            return
        # Connected: paho's own log is not needed again until the connection is lost (and
        # formatting it for every packet would cost time while an outbox drains).
        client.on_log = None
        # paho keeps unacknowledged QoS 1 messages and replays them right after this callback
        # returns, ahead of anything published later. Replaying them would duplicate what the
        # Publisher resends from the outbox and could put old rows behind newer ones; drop them
        # so the outbox, read oldest-first, is the only source of retries.
        dropped = client.drop_out_messages()
        if dropped:
            logger.debug("dropped %s messages from paho's retry queue", len(dropped))
        self._publish_online(client)
        with self._lock:
            handlers = [(t, q) for t, (q, _, _) in self._handlers.items()]
            self._sessions += 1
            self._session = self._sessions
            down_for = self._clock.monotonic() - (self._down_since or self._clock.monotonic())
            self._down_since = None
            self._last_error = None
            self._paho_error = None
            self._state_changed.notify_all()
            listeners = list(self._connection_listeners)
        for topic, qos in handlers:
            client.subscribe(topic, qos)
        logger.info(
            "connected to MQTT broker %s (connection %s, after %.1f s)",
            self._address.display(),
            self._sessions,
            down_for,
        )
        _notify(listeners, True)

    def _publish_online(self, client: mqtt.Client) -> None:
        try:
            payload = self._online_payload()
        except Exception:
            logger.exception("building the online status failed; not announcing online")
            return
        client.publish(self._status_topic, payload, qos=1, retain=True)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # paho calls this from inside its `except OSError:` around the connect attempt (TCP
        # connect and TLS handshake), so the exception that failed it is still the current one.
        message, is_tls = describe_connect_error(sys.exc_info()[1])
        self._report_failure(message, logging.ERROR if is_tls else logging.WARNING)

    def _report_failure(self, message: str, level: int) -> None:
        """Log a failed attempt once per distinct reason (later repeats at DEBUG); keep it."""
        with self._lock:
            repeat = message == self._last_error
            self._last_error = message
        logger.log(
            logging.DEBUG if repeat else level,
            "MQTT broker %s: %s; retrying with backoff",
            self._address.display(),
            message,
        )

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            was_connected = self._session is not None
            self._session = None
            if was_connected:
                self._down_since = self._clock.monotonic()
            self._state_changed.notify_all()
            listeners = list(self._connection_listeners)
            stopping = self._stopped
        if not was_connected:
            self._closed_before_connack(reason_code, stopping)
            return
        client.on_log = self._on_paho_log
        if stopping:
            logger.debug("MQTT connection closed on stop")
        else:
            logger.warning(
                "lost MQTT connection to %s: %s; reconnecting",
                self._address.display(),
                reason_code,
            )
        _notify(listeners, False)

    def _closed_before_connack(self, reason_code: ReasonCode, stopping: bool) -> None:
        """The broker hung up during the login (e.g. a client certificate refused after a
        TLS 1.3 handshake): a failure too, unless it only follows a CONNACK refusal."""
        with self._lock:
            refused, self._refused = self._refused, False
            detail, self._paho_error = self._paho_error, None
        if refused or stopping:
            return
        self._report_failure(
            describe_login_drop(detail, str(reason_code)),
            logging.ERROR if self._address.tls else logging.WARNING,
        )

    def _on_paho_log(self, client: mqtt.Client, userdata: Any, level: int, buf: str) -> None:
        # Installed only while not connected: paho reports a socket error after the TLS
        # handshake (such as the TLS 1.3 alert refusing our client certificate) only here.
        if level == mqtt.MQTT_LOG_ERR:
            with self._lock:
                self._paho_error = buf

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            listeners = list(self._publish_listeners)
        for cb in listeners:
            try:
                cb(mid)
            except Exception:
                logger.exception("publish listener failed")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            handlers = [
                (h, r) for t, (_, h, r) in self._handlers.items() if _matches(t, message.topic)
            ]
        for handler, on_retained in handlers:
            try:
                if message.retain and on_retained is not None:
                    on_retained(message.topic)
                else:
                    handler(message.topic, bytes(message.payload))
            except Exception:
                logger.exception("handler for MQTT topic %r failed", message.topic)


def _matches(topic_filter: str, topic: str) -> bool:
    return bool(mqtt.topic_matches_sub(topic_filter, topic))


def _notify(listeners: list[ConnectionListener], up: bool) -> None:
    for cb in listeners:
        try:
            cb(up)
        except Exception:
            logger.exception("connection listener failed")
