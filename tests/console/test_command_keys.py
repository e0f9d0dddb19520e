"""Per-node command keys: each node's command is signed with its own key, and a command for a
node the console has no key for waits in the outbox until a console with its key starts."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from grid_console.app import Console
from grid_console.cli import _parse, _parser, main
from grid_console.commands.keys import node_of
from grid_console.commands.models import OutboxCommand
from grid_console.commands.outbox import enqueue
from grid_console.db.session import transaction
from grid_console.per_node import PerNodeFiles
from grid_contract.signing import CommandRefusedError, MemoryNonces, Refusal, Verifier
from tests.console.conftest import Backend
from tests.console.helpers import ConsoleProcess, api_as, make_console, started
from tests.integration.broker import MosquittoBroker, Received, Subscriber

pytestmark = pytest.mark.integration

KEYS = {
    "gate-1": "gate-1-command-key-0123456789",
    "gate-2": "gate-2-command-key-9876543210",
    "gate-3": "every-node-command-key-abcdefgh",  # the default, given at the restart
}
WAITING = 60  # more than one page of the sender's pass (50): they must not hide gate-1's


def write_keys(tmp_path: Path) -> dict[str, Path]:
    files = {}
    for node, key in KEYS.items():
        files[node] = tmp_path / f"{node}.key"
        files[node].write_text(key + "\n", encoding="utf-8")
    return files


def verifies(key: str, message: Received) -> bool:
    verifier = Verifier(key, MemoryNonces(time.time), max_age_s=120)
    try:
        verifier.verify(message.topic, json.loads(message.payload), time.time())
    except CommandRefusedError as exc:
        assert exc.cause is Refusal.BAD_SIGNATURE, exc
        return False
    return True


def enqueue_for(console: Console, node: str, alert_id: str) -> None:
    def work(session: Session) -> None:
        enqueue(session, prefix=f"grid/xizhen/{node}", command="release", by="admin",
                now=datetime.now(UTC), case_id=None, body={"alert_id": alert_id})  # fmt: skip

    transaction(console.engine, work)


def on(node: str, messages: list[Received]) -> list[Received]:
    return [m for m in messages if m.topic == f"grid/xizhen/{node}/cmd/release"]


def unsent(console: Console) -> list[tuple[str, int, str | None]]:
    with Session(console.engine) as session:
        rows = session.execute(
            select(OutboxCommand.topic, OutboxCommand.attempts, OutboxCommand.claimed_by).where(
                OutboxCommand.sent_at.is_(None)
            )
        )
        return [(topic, attempts, claimed) for topic, attempts, claimed in rows]


def test_each_node_gets_its_own_signature_and_a_node_without_a_key_waits_for_one(
    tmp_path: Path,
    broker: MosquittoBroker,
    backend: Backend,
    caplog: pytest.LogCaptureFixture,
) -> None:
    files = write_keys(tmp_path)
    per_node = {("xizhen", "gate-1"): files["gate-1"], ("xizhen", "gate-2"): files["gate-2"]}
    nodes = Subscriber(broker.port, "grid/+/+/cmd/#", client_id="the-nodes", persistent=True)
    caplog.set_level(logging.WARNING, logger="grid_console.commands.sender")
    keys = PerNodeFiles(None, per_node)
    console = started(make_console(tmp_path, broker, backend, key_files=keys))
    try:
        for n in range(WAITING):
            enqueue_for(console, "gate-3", f"waiting-{n}")
        enqueue_for(console, "gate-1", "for-gate-1")
        enqueue_for(console, "gate-2", "for-gate-2")
        console.sender.wake()
        assert nodes.wait_for(lambda m: len(m) >= 2, 15), "gate-1 and gate-2 got nothing"
        time.sleep(2.5)  # more passes of the sender (every 1 s): gate-3's still waits

        (one,) = on("gate-1", nodes.messages)
        (two,) = on("gate-2", nodes.messages)
        assert json.loads(one.payload)["alert_id"] == "for-gate-1"
        assert verifies(KEYS["gate-1"], one) and not verifies(KEYS["gate-2"], one)
        assert verifies(KEYS["gate-2"], two) and not verifies(KEYS["gate-1"], two)
        assert on("gate-3", nodes.messages) == [], "sent to a node the console has no key for"

        waiting = unsent(console)
        assert len(waiting) == WAITING  # not dropped, not tried, not held
        # Found key-less once, gate-3's rows are not read again on every pass.
        assert list(console.sender._due()) == []
        assert set(waiting) == {("grid/xizhen/gate-3/cmd/release", 0, None)}
        warnings = [r for r in caplog.records if "xizhen/gate-3" in r.getMessage()]
        assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
        assert "command-key-file xizhen/gate-3=FILE" in warnings[0].getMessage()
        health = api_as(console).get("/api/health").json()
        assert health["command_key"] is True
        assert health["command_keys"] == {
            "every_node": False,
            "nodes": ["xizhen/gate-1", "xizhen/gate-2"],
            "waiting_for_key": ["xizhen/gate-3"],
        }
    finally:
        console.stop()

    # Restarted as an operator would, the keys from its config file: a key for every node
    # now, and the nodes' own keys still win for gate-1 and gate-2.
    config = tmp_path / "console.toml"
    config.write_text(
        f'command-key-file = {{ default = "{files["gate-3"]}", '
        f'"xizhen/gate-1" = "{files["gate-1"]}", "xizhen/gate-2" = "{files["gate-2"]}" }}\n',
        encoding="utf-8",
    )
    again = ConsoleProcess(tmp_path, broker, backend, name="again", extra=["--config", str(config)])
    try:
        again.wait_ready()
        assert nodes.wait_for(lambda m: len(on("gate-3", m)) == WAITING, 30), again.text()
        sent = on("gate-3", nodes.messages)
        assert all(verifies(KEYS["gate-3"], m) and not verifies(KEYS["gate-1"], m) for m in sent)
        assert [json.loads(m.payload)["alert_id"] for m in sent] == [
            f"waiting-{n}" for n in range(WAITING)
        ]
        assert len(on("gate-1", nodes.messages)) == 1  # nothing sent twice
        health = again.get("/api/health")
        assert health["command_keys"]["every_node"] is True
        assert health["command_keys"]["waiting_for_key"] == []
    finally:
        assert again.end() == 0, again.text()
        nodes.close()


def run_serve(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["serve", "--data-dir", str(tmp_path / "d"), *args]) == 2
    assert not (tmp_path / "d").exists()  # refused before anything was started or written
    return capsys.readouterr().err


def test_a_bad_key_file_refuses_the_start_naming_the_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, short = tmp_path / "good.key", tmp_path / "short.key"
    good.write_text("a-good-command-key-0123456789\n", encoding="utf-8")
    short.write_text("too-short\n", encoding="utf-8")
    missing = tmp_path / "missing.key"

    err = run_serve(tmp_path, capsys, "--command-key-file", str(good),
                    "--command-key-file", f"xizhen/gate-2={missing}")  # fmt: skip
    assert f"command-key-file: xizhen/gate-2={missing}: " in err
    assert "cannot read the command key file" in err
    err = run_serve(tmp_path, capsys, "--command-key-file", str(short))
    assert f"command-key-file: {short}: " in err and "shorter than 16 characters" in err
    err = run_serve(tmp_path, capsys, "--command-key-file", f"xizhen/gate-1={good}",
                    "--command-key-file", f"xizhen/gate-1={short}")  # fmt: skip
    assert "command-key-file: xizhen/gate-1 is named twice" in err
    err = run_serve(tmp_path, capsys, "--command-key-file", "gate-1=x")
    assert "command-key-file: 'gate-1=x' is not FILE or SITE/NODE=FILE" in err

    config = tmp_path / "c.yaml"
    config.write_text(
        f"command-key-file:\n  default: {good}\n  xizhen/gate-3: {short}\n", encoding="utf-8"
    )
    err = run_serve(tmp_path, capsys, "--config", str(config))
    assert f"command-key-file: xizhen/gate-3={short}: " in err and "shorter than" in err


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("c.toml", 'command-key-file = { default = "/k/all", "xizhen/gate-1" = "/k/g1" }\n'),
        ("c.yaml", "command-key-file: [/k/all, xizhen/gate-1=/k/g1]\n"),
    ],
)
def test_keys_per_node_from_the_config_file(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    args = _parse(_parser(), ["serve", "--config", str(path)])
    assert args.command_key_file == ["/k/all", "xizhen/gate-1=/k/g1"]


def test_the_node_of_a_command_topic() -> None:
    assert node_of("grid/xizhen/gate-1/cmd/release") == ("xizhen", "gate-1")
    assert node_of("estate/east/xizhen/gate-1/cmd/ack") == ("xizhen", "gate-1")
    for bad in ("xizhen/gate-1/cmd/release", "grid/xizhen/gate-1/status"):
        assert node_of(bad) is None
