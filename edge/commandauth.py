"""Which platform commands the node obeys: signed ones (grid_contract.signing), or, in a lab
that says so, unsigned ones.

The policy, in order:
- a retained command is never obeyed (the broker would replay it on every reconnect);
- with a key, a command must carry a valid signature, be fresh and new (nonce not seen);
- with no key, every command is refused, unless `commands.allow_unsigned` says otherwise (the
  config refuses a key together with allow_unsigned: one of them would be a lie).

Nonces are kept in SQLite in the node's storage, so a command captured before a restart cannot
be replayed after it. A refusal is counted by cause and logged once per cause (then at DEBUG):
a flood of forged commands must not flood the log.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from edge.clock import Clock
from grid_contract.signing import CommandRefusedError, Refusal, Verified, Verifier

log = logging.getLogger(__name__)


class SqliteNonces:
    """Nonces of accepted commands, on disk until they expire (the replay window)."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, expires_at REAL NOT NULL)"
        )

    def claim(self, nonce: str, expires_at: float) -> bool:
        with self._lock:
            try:
                self._db.execute("DELETE FROM nonces WHERE expires_at < ?", (self._clock.now(),))
                self._db.execute("INSERT INTO nonces VALUES (?, ?)", (nonce, expires_at))
            except sqlite3.IntegrityError:
                return False
            except sqlite3.Error as exc:
                # Unable to remember it means unable to refuse its replay: refuse it now.
                raise CommandRefusedError(
                    Refusal.REPLAYED, f"cannot record the command's nonce ({exc}); not obeyed"
                ) from exc
            return True

    def close(self) -> None:
        with self._lock:
            self._db.close()


class CommandGate:
    """Decides whether a command body may be obeyed; counts and logs each refusal."""

    def __init__(
        self,
        verifier: Verifier | None,
        clock: Clock,
        *,
        allow_unsigned: bool,
    ) -> None:
        self._verifier = verifier
        self._clock = clock
        self._allow_unsigned = allow_unsigned
        self._lock = threading.Lock()
        self.refused: Counter[str] = Counter()
        self._logged: set[str] = set()

    def check(self, topic: str, body: Mapping[str, object]) -> Verified | None:
        """The verified signer, None for an allowed unsigned command; raises CommandRefusedError."""
        try:
            if self._verifier is not None:
                return self._verifier.verify(topic, body, self._clock.now())
            if self._allow_unsigned:
                return None
            raise CommandRefusedError(
                Refusal.NO_KEY,
                "this node has no commands.key, so it obeys no command "
                "(set commands.key, or commands.allow_unsigned: true in a lab)",
            )
        except CommandRefusedError as exc:
            self.count(exc.cause, f"command on {topic} refused: {exc}")
            raise

    def ignore_retained(self, topic: str) -> None:
        self.count("retained", f"retained command on {topic} ignored (commands are never kept)")

    def count(self, cause: str, message: str) -> None:
        with self._lock:
            self.refused[str(cause)] += 1
            first = cause not in self._logged
            self._logged.add(str(cause))
        if first:
            log.warning("%s; further refusals for this cause are counted in /metrics", message)
        else:
            log.debug("%s", message)
