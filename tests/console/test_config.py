"""`grid-console serve --config FILE`: every serve option from TOML or YAML, the command line
winning, and a bad value refused at start-up naming the file and the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from grid_console.cli import _parse, _parser, _policy, main
from grid_console.dispatch.policy import DispatchMode

TOML = """
broker = "mqtt://10.0.0.5:1884"
topic-root = "estate"
port = 9001
client_id = "console-a"
insecure-cookies = true
auto-register = "smoke,gas"
response-s = { default = 200, smoke = 30 }
handle-s = [1800]
dispatch = { illegal_parking = "manual" }
escalate-s = 90
timezone = "Asia/Shanghai"
"""
YAML = """
broker: mqtt://10.0.0.5:1884
topic-root: estate
port: 9001
client_id: console-a
insecure-cookies: true
auto-register: smoke,gas
response-s: {default: 200, smoke: 30}
handle-s: [1800]
dispatch: {illegal_parking: manual}
escalate-s: 90
timezone: Asia/Shanghai
"""


@pytest.mark.parametrize(("name", "text"), [("c.toml", TOML), ("c.yaml", YAML)])
def test_every_option_from_a_file_and_the_command_line_wins(
    tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    args = _parse(_parser(), ["serve", "--config", str(path), "--port", "9002"])
    assert args.port == 9002  # the command line
    assert (args.broker, args.topic_root, args.client_id) == (
        "mqtt://10.0.0.5:1884", "estate", "console-a")  # fmt: skip
    assert args.insecure_cookies is True
    policy = _policy(args)
    assert policy.response_deadline("smoke") == timedelta(seconds=30)
    assert policy.response_deadline("illegal_parking") == timedelta(seconds=200)
    assert policy.handle_deadline("gas") == timedelta(seconds=1800)
    assert policy.auto_register == frozenset({"smoke", "gas"})
    assert policy.escalate_s == 90
    assert policy.dispatch.mode("illegal_parking", "warning") is DispatchMode.MANUAL
    assert policy.dispatch.mode("smoke", "critical") is DispatchMode.ALL_ON_DUTY


@pytest.mark.parametrize(
    ("text", "suffix", "named"),
    [
        ("port = 'eighty'\n", ".toml", "c.toml: port: 'eighty' is not valid"),
        ("port = 70000\n", ".toml", "c.toml: port: 70000 is not valid"),
        ("prot = 80\n", ".toml", "c.toml: unknown key 'prot'"),
        ("insecure-cookies = 'yes'\n", ".toml", "insecure-cookies: expected true or false"),
        ("dispatch:\n  smoke: sometimes\n", ".yaml", "c.yaml: dispatch: 'smoke=sometimes'"),
        ("escalate-s: -5\n", ".yaml", "c.yaml: escalate-s: -5 is not valid"),
        ("dispatch-default: never\n", ".yaml", "dispatch-default: 'never' is not one of"),
        ("- a list\n", ".yaml", "the top level must be a table"),
        ("port = [\n", ".toml", "c.toml: not valid TOML"),
        ("port = 1\n", ".ini", "use a .toml, .yaml or .yml file"),
        ("timezone = 'Mars/Olympus'\n", ".toml", "timezone 'Mars/Olympus' is not a known"),
    ],
)
def test_bad_values_are_refused_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, suffix: str, named: str
) -> None:
    path = tmp_path / f"c{suffix}"
    path.write_text(text, encoding="utf-8")
    assert main(["serve", "--config", str(path), "--data-dir", str(tmp_path / "d")]) == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "d").exists()  # refused before anything was started or written
