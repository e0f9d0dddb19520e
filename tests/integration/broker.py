"""Test helpers: a private Mosquitto on a free port, a collecting subscriber, a cuttable TCP proxy.

Tests never use a broker that happens to run on the machine (CI machines have none): each one
starts its own, with persistence in its tmp directory so QoS 1 sessions survive `stop()`/`start()`.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

# Re-exported for the tests: one place knows where Debian puts the broker.
from edge.demo_console import find_mosquitto  # noqa: F401

HOST = "127.0.0.1"
SHIPPED_CONF = Path(__file__).resolve().parents[2] / "mqtt" / "mosquitto.conf"
# The directives that decide what a broker keeps across a crash or restart, and how much it
# queues for a subscriber that is away. Paths (persistence_location) are the test's own.
_PERSISTENCE_DIRECTIVES = frozenset(
    {
        "persistence",
        "autosave_interval",
        "autosave_on_changes",
        "max_queued_messages",
        "max_queued_bytes",
        "persistent_client_expiration",
        "queue_qos0_messages",
    }
)


def shipped_persistence(conf: Path = SHIPPED_CONF) -> list[str]:
    """The persistence and queue lines of the shipped site broker config, in its order.

    A test broker given these as `extra_config` keeps and loses what a site broker would;
    the password, ACL and TLS lines of the example are left out.
    """
    lines = []
    for raw in conf.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and line.split()[0] in _PERSISTENCE_DIRECTIVES:
            lines.append(line)
    return lines


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False


class MosquittoBroker:
    """A Mosquitto process owned by one test. `start()` after `stop()` reuses the port.

    `allow_anonymous=False` and `extra_config` (lines appended to the generated config: more
    listeners with their TLS files, `password_file`, `acl_file`, ...) are for the security
    tests; the defaults give the open loopback broker every other test uses.
    """

    def __init__(
        self,
        executable: str,
        workdir: Path,
        port: int | None = None,
        *,
        allow_anonymous: bool = True,
        extra_config: Sequence[str] = (),
    ) -> None:
        self.executable = executable
        self.workdir = workdir
        self.port = port or free_port()
        self.host = HOST
        self.allow_anonymous = allow_anonymous
        self.extra_config = list(extra_config)
        self._proc: subprocess.Popen[bytes] | None = None
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "mosquitto.conf"
        self.log_path = workdir / "mosquitto.log"
        self.config_path.write_text(self._config())

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def _config(self) -> str:
        return "\n".join(
            [
                f"listener {self.port} {HOST}",
                f"allow_anonymous {'true' if self.allow_anonymous else 'false'}",
                "persistence true",
                # The default (1000) makes Mosquitto drop QoS 1 messages for a subscriber that
                # falls behind a node draining its backlog; tests must see every message.
                "max_queued_messages 100000",
                f"persistence_location {self.workdir / 'data'}/",
                # Run as root only if we are root: mosquitto would otherwise switch to the
                # "mosquitto" user and fail to write the persistence file in our tmp dir.
                f"user {pwd.getpwuid(os.geteuid()).pw_name}",
                "log_dest stderr",
                "log_type error",
                "log_type warning",
                "log_type notice",
                *self.extra_config,
                "",
            ]
        )

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [self.executable, "-c", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited at start-up:\n{self.log()}")
            if wait_for_port(self.port, 0.2):
                return
        self.kill()
        raise RuntimeError(f"mosquitto did not listen on port {self.port}:\n{self.log()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: a clean shutdown that writes the persistence file."""
        self._end(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL: the broker vanishes without saving anything since its last autosave."""
        self._end(signal.SIGKILL, 10.0)

    def _end(self, sig: signal.Signals, timeout: float) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            self._proc = None
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5.0)
        self._proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass(frozen=True, slots=True)
class Received:
    topic: str
    payload: bytes
    retain: bool


class Subscriber:
    """A paho client that records every message under `topic_filter` (QoS 1).

    With `persistent=True` it uses a fixed client id and a persistent session, so messages
    published while it is away (broker restart) are queued for it by the broker.
    """

    def __init__(
        self,
        port: int,
        topic_filter: str,
        *,
        client_id: str = "test-subscriber",
        persistent: bool = False,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.topic_filter = topic_filter
        self._cond = threading.Condition()
        self._messages: list[Received] = []
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=not persistent,
            protocol=MQTTProtocolVersion.MQTTv311,
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        self._client.reconnect_delay_set(1, 1)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.connect_async(HOST, port, keepalive=30)
        self._client.loop_start()
        if not self._subscribed.wait(10.0):
            self.close()
            raise RuntimeError(f"test subscriber could not subscribe on port {port}")

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe(self.topic_filter, qos=1)

    def _on_subscribe(self, *args: Any) -> None:
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self._messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._cond.notify_all()

    @property
    def messages(self) -> list[Received]:
        with self._cond:
            return list(self._messages)

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self._messages), timeout)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def retained_payload(port: int, topic: str, client_id: str = "late-subscriber") -> Any:
    """The one retained message on `topic` (a filter) that a client connecting now is given,
    decoded from JSON: what a platform that connects late learns at once."""
    late = Subscriber(port, topic, client_id=client_id)
    try:
        assert late.wait_for(bool, 10), f"no retained message on {topic}"
        (retained,) = late.messages
        assert retained.retain
        return json.loads(retained.payload)
    finally:
        late.close()


class TcpProxy:
    """Forwards 127.0.0.1:port to a target port; can silence replies and cut connections.

    Lets a test lose PUBACKs deterministically (`hold_replies`) and then drop the link
    (`cut`), while the broker and the other clients stay up.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._listener = socket.create_server((HOST, 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._muted: set[socket.socket] = set()
        self._closed = False
        self._refusing = False
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    def hold_replies(self) -> None:
        """On the open connections, discard broker -> client bytes from now on (lost PUBACKs).

        Connections made later (after `cut`) are not affected.
        """
        with self._lock:
            self._muted.update(self._conns)

    def cut(self) -> None:
        """Close every open connection, both sides; new connections are accepted."""
        with self._lock:
            conns, self._conns = self._conns, []
            self._muted.clear()
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def pause(self) -> None:
        """A network cut: close every connection and refuse new ones until `resume()`."""
        self._refusing = True
        self.cut()

    def resume(self) -> None:
        self._refusing = False

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._refusing:
                client.close()
                continue
            try:
                upstream = socket.create_connection((HOST, self.target_port), timeout=5.0)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, is_reply: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if is_reply and src in self._muted:
                    continue
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
