"""The demo's other side: a Mosquitto broker and the grid console, each its own process.

The console is a separate service with its own dependencies (the `console` extra); the node
never imports it. The demo starts it exactly as an operator would (`grid-console serve`), so a
newcomer sees the whole path: camera -> node -> broker -> console case -> patrol. The console
needs MQTT 5 (persistent sessions, shared subscriptions), which the embedded amqtt broker does
not speak, so the demo runs Debian's `mosquitto` when it is installed.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# The demo's grids and people: the grids match the demo cameras' `grid`, one patrol each on
# duty around the clock, one grid head over all three (auto-dispatch falls back to the head).
DEMO_TABLES = {
    "grids": (
        "id,name,site,site_name,parent\n"
        "A-01,地面停车场网格,demo,演示社区,\n"
        "A-02,办公楼前网格,demo,演示社区,\n"
        "A-03,3号楼网格,demo,演示社区,\n"
    ),
    "people": (
        "username,name,role,grids\n"
        "zhangwei,张伟,patrol,A-01\n"
        "lina,李娜,patrol,A-02\n"
        "wangqiang,王强,patrol,A-03\n"
        "liufang,刘芳,grid_head,A-01;A-02;A-03\n"
    ),
    "rosters": (
        "username,grid,weekday,start,end\n"
        "zhangwei,A-01,daily,00:00,24:00\n"
        "lina,A-02,daily,00:00,24:00\n"
        "wangqiang,A-03,daily,00:00,24:00\n"
    ),
}
DEMO_USERS = ("zhangwei", "lina", "wangqiang", "liufang")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_mosquitto() -> str | None:
    # Debian installs the broker in /usr/sbin, which is not on every user's PATH.
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


def console_missing() -> str | None:
    """Why the console cannot run here, or None."""
    for module in ("grid_console", "sqlalchemy", "alembic", "argon2"):
        if importlib.util.find_spec(module) is None:
            return f"its dependencies are not installed ({module}): pip install -e '.[console]'"
    return None


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def _end(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class LocalMosquitto:
    """Mosquitto on a loopback port, anonymous, nothing kept on disk: a demo broker."""

    def __init__(self, executable: str, workdir: Path) -> None:
        self.port = free_port()
        conf = workdir / "mosquitto-demo.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n",
            encoding="utf-8",
        )
        self._log = (workdir / "mosquitto.log").open("wb")
        self._proc = subprocess.Popen(
            [executable, "-c", str(conf)], stdout=self._log, stderr=subprocess.STDOUT
        )
        if not _wait_port(self.port, self._proc, 10.0):
            self.stop()
            raise RuntimeError(f"mosquitto did not start; see {workdir / 'mosquitto.log'}")

    def stop(self) -> None:
        _end(self._proc)
        self._log.close()


@dataclass(frozen=True, slots=True)
class ConsoleLogin:
    url: str
    username: str
    password: str


class DemoConsole:
    """`grid-console serve` for the demo: SQLite under the workdir, the demo's command key, its
    grids, people and rosters imported, every account with one password the demo prints."""

    def __init__(self, workdir: Path, broker_url: str, key_file: Path) -> None:
        data = workdir / "console"
        data.mkdir(parents=True, exist_ok=True)
        password_file = data / "demo.password"
        if not password_file.exists():
            password_file.write_text(secrets.token_urlsafe(12) + "\n", encoding="utf-8")
            password_file.chmod(0o600)
        password = password_file.read_text(encoding="utf-8").strip()
        self.port = free_port()
        env = dict(os.environ, GRID_CONSOLE_ADMIN_PASSWORD=password, PYTHONUNBUFFERED="1")
        base = [sys.executable, "-m", "grid_console"]
        self.log_path = data / "console.log"
        self._log = self.log_path.open("wb")
        # Each subcommand migrates the database first, so this works on a fresh directory.
        for table, text in DEMO_TABLES.items():
            path = data / f"demo-{table}.csv"
            path.write_text(text, encoding="utf-8")
            self._run([*base, table, "import", str(path), "--data-dir", str(data)], env)
        for user in DEMO_USERS:
            self._run([*base, "users", "passwd", user, "--data-dir", str(data)], env, password)
        self._proc = subprocess.Popen(
            [*base, "serve", "--data-dir", str(data), "--broker", broker_url,
             "--topic-root", "grid", "--port", str(self.port),
             "--command-key-file", str(key_file), "--client-id", "grid-console-demo"],
            stdout=self._log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        if not _wait_port(self.port, self._proc, 90.0):
            self.stop()
            raise RuntimeError(f"the grid console did not start; see {self.log_path}")
        self.login = ConsoleLogin(f"http://127.0.0.1:{self.port}/", "admin", password)

    def _run(self, argv: list[str], env: dict[str, str], stdin: str = "") -> None:
        subprocess.run(argv, input=(stdin + "\n").encode(), stdout=self._log,
                       stderr=subprocess.STDOUT, env=env, check=False, timeout=120)  # fmt: skip

    def stop(self) -> None:
        _end(self._proc)
        self._log.close()
