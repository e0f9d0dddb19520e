"""The config checker never crashes, and is the one truth (issue 12, item 7).

`edge check-config` answers every file with exit 0 or 2 and `file:line key.path: message`
lines, quickly and in bounded memory. The corpus in `config_corpus/` holds small files, each
bad in one way, with the line, key path and message expected in CORPUS below.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import time
from pathlib import Path

import pytest

from edge.cli import build_parser
from edge.config.bounded import MAX_CONFIG_BYTES, MAX_NODES, parse_yaml
from edge.config.check import check_config
from edge.config.loader import ConfigError, load_config

CORPUS_DIR = Path(__file__).parent / "config_corpus"
TIME_BOUND_S = 5.0

# file: (line, key path, part of the message)
CORPUS: dict[str, tuple[int, str, str]] = {
    "duplicate_top_key": (3, "site", "duplicate key 'site': first on line 1, again on line 3"),
    "duplicate_nested_key": (
        6,
        "cameras[0].source",
        "duplicate key 'source': first on line 5, again on line 6",
    ),
    "url_port_out_of_range": (3, "mqtt.url", "port '99999' is not a number in 1..65535"),
    "url_without_host": (3, "mqtt.url", "missing host"),
    "url_port_zero": (3, "mqtt.url", "port 0 is not a number in 1..65535"),
    "url_port_not_a_number": (3, "mqtt.url", "port '18x3' is not a number in 1..65535"),
    "url_scheme": (3, "mqtt.url", "must start with mqtt://, mqtts:// or tcp://"),
    "url_with_path": (3, "mqtt.url", "unexpected path, query or fragment"),
    "prefix_nul": (3, "mqtt.topic_prefix", "contains '\\x00'"),
    "prefix_wildcard": (3, "mqtt.topic_prefix", "without wildcards"),
    "prefix_control_char": (3, "mqtt.topic_prefix", "control characters"),
    "prefix_empty_level": (3, "mqtt.topic_prefix", "must be a non-empty string"),
    "client_id_nul": (3, "mqtt.client_id", "must not hold control characters"),
    "empty_categories": (7, "cameras[0].zones[0].categories", "is empty"),
    "polygon_too_many_points": (9, "cameras[0].zones[0].polygon", "at most 100 items"),
    "nested_too_deep": (34, "extra.k0.k1", "nested more than 32 levels deep"),
    "flow_nested_too_deep": (3, "", "not valid YAML: exceeded maximum nesting depth"),
    "billion_laughs": (7, "l4[3]", f"more than {MAX_NODES} values, counting what aliases"),
    "recursive_alias": (6, "cameras[0].zones", "alias *cams is inside its own anchor"),
    "unknown_alias": (3, "cameras", "alias *cams names no anchor defined before it"),
    "huge_integer": (3, "api.port", "cannot read this value: Exceeds the limit (4300 digits)"),
    "bad_timestamp": (3, "alerts.escalate_after_s", "month must be in 1..12"),
    "python_tag": (3, "api.host", "could not determine a constructor for the tag"),
    "two_documents": (3, "", "holds more than one YAML document"),
    "not_a_mapping": (1, "", "must be a YAML mapping"),
    "not_utf8": (2, "", "is not UTF-8 text"),
    "control_char_raw": (2, "", "control characters are not allowed"),
    "syntax_error": (5, "", "not valid YAML"),
    "nan_fps": (6, "cameras[0].detect_fps", "less than or equal to 30"),
    "token_dev_zero": (3, "api.token", "/dev/zero is not a regular file"),
    "token_directory": (3, "api.token", "is a directory"),
    "password_missing_file": (3, "mqtt.password", "no-such-secret.txt: no such file"),
    "tls_ca_not_pem": (3, "mqtt.tls.ca_file", "not_pem.pem is not a PEM file"),
    "tls_ca_bad_pem": (3, "mqtt.tls.ca_file", "bad_pem.pem: not usable"),
    "tls_ca_device": (3, "mqtt.tls.ca_file", "/dev/zero is not a regular file"),
    "storage_dir_is_a_file": (3, "storage.dir", "exists and is not a directory"),
    "storage_dir_cannot_be_created": (3, "storage.dir", "cannot create /proc/self/no-such/var"),
    "stream_port_out_of_range": (5, "cameras[0].source", "Port out of range"),
    "stream_without_host": (5, "cameras[0].source", "the URL has no host"),
    "source_blank": (5, "cameras[0].source", "a camera source cannot be empty"),
    "api_host_not_a_host": (3, "api.host", "is not an IP address or a host name"),
}

ISSUE = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+) (?:(?P<path>\S+): )?(?P<message>.+)$")


def run_check(path: Path, *extra: str) -> tuple[int, str, str, float]:
    """`edge check-config` in this process (exit code, stdout, stderr, seconds)."""
    args = build_parser().parse_args(["check-config", str(path), *extra])
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = int(args.func(args))
    return code, out.getvalue(), err.getvalue(), time.perf_counter() - started


def problems(stderr: str) -> list[str]:
    """The issue lines, without the count at the end."""
    return [line for line in stderr.splitlines() if not re.match(r"^\d+ problem\(s\) in ", line)]


def assert_well_formed(name: str, code: int, stdout: str, stderr: str) -> None:
    assert code in (0, 2), (code, stderr)
    assert "Traceback" not in stdout + stderr and "could not be checked" not in stderr, stderr
    if code == 0:
        assert ": OK (" in stdout
        return
    lines = problems(stderr)
    assert lines, stderr
    for line in lines:
        m = ISSUE.match(line)
        assert m and m["file"] == name, f"not 'file:line key.path: message': {line!r}"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """The corpus copied beside a (dummy) model file: only the one bad thing is bad."""
    shutil.copytree(CORPUS_DIR, tmp_path / "corpus")
    (tmp_path / "corpus" / "models").mkdir()
    (tmp_path / "corpus" / "models" / "yolov8n_int8.onnx").touch()
    return tmp_path / "corpus"


def test_every_corpus_file_is_in_the_table() -> None:
    files = {p.stem for p in CORPUS_DIR.glob("*.yaml")}
    assert files == {*CORPUS, "good"}


def test_the_corpus_baseline_is_good(corpus: Path) -> None:
    code, _, err, _ = run_check(corpus / "good.yaml", "--skip-model")
    assert code == 0, err


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_file_names_its_line_key_and_problem(corpus: Path, name: str) -> None:
    line, path, fragment = CORPUS[name]
    code, out, err, seconds = run_check(corpus / f"{name}.yaml", "--skip-model")
    assert_well_formed(f"{name}.yaml", code, out, err)
    assert code == 2
    found = [ISSUE.match(x) for x in problems(err)]
    assert any(
        m
        and int(m["line"]) == line
        and (m["path"] or "").startswith(path)
        and fragment in m["message"]
        for m in found
    ), err
    assert seconds < TIME_BOUND_S


# --- each defect of the issue, reproduced ------------------------------------------------------


def site_file(tmp_path: Path, extra: str) -> Path:
    (tmp_path / "models").mkdir(exist_ok=True)
    (tmp_path / "models" / "yolov8n_int8.onnx").touch()
    path = tmp_path / "site.yaml"
    path.write_text(f"site: {{id: xizhen}}\nnode: {{id: gate-1}}\n{extra}", encoding="utf-8")
    return path


def test_deep_nesting_is_an_error_not_a_recursion_traceback(tmp_path: Path) -> None:
    flow = "x: " + "[" * 100_000 + "]" * 100_000
    block = "x:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 3000))
    for text in (flow, block):
        path = site_file(tmp_path, text)
        code, out, err, seconds = run_check(path, "--skip-model")
        assert_well_formed("site.yaml", code, out, err)
        assert code == 2 and "nest" in err and seconds < TIME_BOUND_S


def test_a_token_file_on_dev_zero_or_a_fifo_never_blocks(tmp_path: Path) -> None:
    fifo = tmp_path / "token.fifo"
    os.mkfifo(fifo)
    for where in ("/dev/zero", "/dev/urandom", str(fifo)):
        path = site_file(tmp_path, f"api: {{token: {{file: {where}}}}}\n")
        code, _, err, seconds = run_check(path, "--skip-model")
        assert code == 2 and seconds < TIME_BOUND_S
        assert f"site.yaml:3 api.token: secret file: {where} is not a regular file" in err


def test_a_big_secret_file_is_refused_after_its_cap(tmp_path: Path) -> None:
    (tmp_path / "token.txt").write_bytes(b"t" * 100_000)
    path = site_file(tmp_path, "api: {token: {file: token.txt}}\n")
    code, _, err, _ = run_check(path, "--skip-model")
    assert code == 2 and "over the limit of 4096" in err


def test_duplicate_keys_are_refused_naming_both_lines(tmp_path: Path) -> None:
    path = site_file(tmp_path, "node: {id: gate-2}\n")
    code, _, err, _ = run_check(path, "--skip-model")
    assert code == 2
    assert "site.yaml:3 node: duplicate key 'node': first on line 2, again on line 3" in err


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('mqtt: {url: "mqtt://127.0.0.1:99999"}\n', "site.yaml:3 mqtt.url: broker URL"),
        ('mqtt: {url: "mqtt://"}\n', "site.yaml:3 mqtt.url: broker URL 'mqtt://': missing host"),
        ('mqtt: {topic_prefix: "grid/a\\0b"}\n', "site.yaml:3 mqtt.topic_prefix: "),
        (
            "cameras:\n  - id: c\n    source: '0'\n    zones:\n      - {id: z, kind: lift, "
            "categories: [], polygon: [[0, 0], [1, 0], [1, 1]]}\n",
            "site.yaml:7 cameras[0].zones[0].categories: is empty",
        ),
        ("storage: {dir: /proc/self/x/var}\n", "site.yaml:3 storage.dir: cannot create"),
    ],
    ids=["port 99999", "no host", "NUL in prefix", "no categories", "storage dir"],
)
def test_what_edge_run_refuses_check_config_refuses(
    tmp_path: Path, extra: str, expected: str
) -> None:
    code, _, err, _ = run_check(site_file(tmp_path, extra), "--skip-model")
    assert code == 2 and expected in err, err


def test_the_storage_dir_is_created_when_missing(tmp_path: Path) -> None:
    path = site_file(tmp_path, "storage: {dir: deep/new/var}\n")
    assert run_check(path, "--skip-model")[0] == 0
    assert (tmp_path / "deep" / "new" / "var").is_dir()
    assert list((tmp_path / "deep" / "new" / "var").iterdir()) == []  # the probe is gone


def test_a_database_in_storage_must_be_one(tmp_path: Path) -> None:
    path = site_file(tmp_path, "")
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "outbox.sqlite3").write_text("not a database")
    code, _, err, _ = run_check(path, "--skip-model")
    assert code == 2 and "outbox.sqlite3 is not an SQLite database" in err


def test_a_file_over_the_size_cap_is_refused_unread(tmp_path: Path) -> None:
    path = site_file(tmp_path, "# " + "x" * MAX_CONFIG_BYTES + "\n")
    code, _, err, seconds = run_check(path, "--skip-model")
    assert code == 2 and f"over the limit of {MAX_CONFIG_BYTES}" in err
    assert err.startswith("site.yaml:1 ") and seconds < TIME_BOUND_S


def test_a_config_of_the_most_values_is_answered_in_time(tmp_path: Path) -> None:
    items = ", ".join(["0"] * (MAX_NODES + 10))
    path = site_file(tmp_path, f"cameras: [{items}]\n")
    code, out, err, seconds = run_check(path, "--skip-model")
    assert_well_formed("site.yaml", code, out, err)
    assert code == 2 and seconds < TIME_BOUND_S
    just_under = ", ".join(["{}"] * (MAX_NODES // 2 - 20))
    path = site_file(tmp_path, f"cameras: [{just_under}]\n")
    code, out, err, seconds = run_check(path, "--skip-model")
    assert_well_formed("site.yaml", code, out, err)
    assert code == 2 and seconds < TIME_BOUND_S
    assert len(problems(err)) <= 101  # the first hundred, and how many more


def test_aliases_and_merge_keys_within_bounds_still_work() -> None:
    data, _ = parse_yaml("base: &b {grace_s: 30, clear_after_s: 20}\nzone: {<<: *b, id: z}\n")
    assert data["zone"] == {"grace_s": 30, "clear_after_s": 20, "id": "z"}


def test_the_loader_used_by_replay_and_benchmarks_is_bounded_too(tmp_path: Path) -> None:
    path = site_file(tmp_path, "site: {id: again}\n")
    with pytest.raises(ConfigError, match="duplicate key 'site'"):
        load_config(path, check_files=False)


def test_check_config_on_text_is_the_check_of_the_file(tmp_path: Path) -> None:
    """The API checks proposed text as if it were the file: same verdict, same lines."""
    path = site_file(tmp_path, 'mqtt: {url: "mqtt://127.0.0.1:99999"}\n')
    with pytest.raises(ConfigError) as from_file:
        check_config(path, load_model=False)
    with pytest.raises(ConfigError) as from_text:
        check_config(path, text=path.read_text(encoding="utf-8"), load_model=False)
    assert [str(i) for i in from_file.value.issues] == [str(i) for i in from_text.value.issues]
