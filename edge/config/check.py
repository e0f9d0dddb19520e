"""The one verdict on a site config: whatever passes here, `edge run` starts with.

`edge check-config`, `POST /api/config/validate`, `PUT /api/config` (and the installer's zone
edits and clip tests), the `reload` command and `edge run` itself all call `check_config`, so
none of them accepts a file another refuses. It checks, in order:

1. the text, read and parsed within bounds (edge/config/bounded.py): size, nesting, values,
   aliases, keys written twice;
2. the schema (edge/config/model.py, sensors.py): types, ranges, list lengths, the broker URL as
   the MQTT link parses it (host, port 1..65535), the topic prefix, non-empty categories...;
3. the files it names (loader.file_issues): detector, camera clips, secrets (regular files read
   with a size cap), TLS files (PEM);
4. what `Node` would otherwise refuse when it starts: the broker address and TLS context built
   as the MQTT link builds them (certificates parsed, key matching the certificate), the topic
   tree, camera stream URLs, the API's listen address, the storage directory (created if
   missing, written to, its databases recognisable), and the model, loaded as a detection lane
   loads it (class names, lift verifier).

Every problem is a ConfigIssue with file, line and key path, and nothing but ConfigError comes
out of here: a check that fails in a way nobody foresaw is reported at its key as "could not be
checked" (a bug: tests/unit/test_config_mutations.py looks for it).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import re
import stat
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from edge.config.loader import (
    MAX_ISSUES,
    ConfigError,
    ConfigIssue,
    Loc,
    SiteConfig,
    file_issues,
    issue_at,
    parse_settings,
    read_config,
)
from edge.detect.onnx_yolo import ModelError
from edge.mqtt.security import broker_settings
from edge.mqtt.topics import Topics
from edge.parts import build_detection
from edge.verify.model_file import VerifierFileError
from edge.video.source import SourceKind, mask_credentials, parse_source
from grid_contract.broker_tls import TlsConfigError, TlsOptions

log = logging.getLogger(__name__)

_SQLITE_HEADER = b"SQLite format 3\x00"
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?")
_MESSAGE_CHARS = 500

Stage = Callable[[], list[ConfigIssue]]


def check_config(
    path: Path,
    *,
    text: str | None = None,
    models_dir: Path | None = None,
    load_model: bool = True,
) -> SiteConfig:
    """The config at `path` (or `text`, as if it were that file) if `edge run` can start with
    it; ConfigError listing every problem otherwise.

    `models_dir` overrides `models.dir` (--models-dir, GRID_MODELS_DIR); `load_model=False`
    (`check-config --skip-model`) checks that the model file exists without opening it.
    """
    file = path.name
    try:
        if text is None:
            text = read_config(path)
        settings, root = parse_settings(text, file)
        site = SiteConfig(settings=settings, path=path.resolve(), models_dir_override=models_dir)
    except ConfigError:
        raise
    except Exception as exc:
        log.exception("config check of %s failed unexpectedly", file)
        raise ConfigError([ConfigIssue(file, 1, "", _unexpected(exc))]) from None
    issues = _guarded(file, root, (), lambda: file_issues(site, root))
    found = {i.path.split(".")[0].split("[")[0] for i in issues}
    stages: list[tuple[Loc, Stage]] = [
        (("storage", "dir"), lambda: _storage_issues(site, root)),
        (("mqtt",), lambda: _topic_issues(site, root)),
        (("cameras",), lambda: _stream_issues(site, root)),
        (("api", "host"), lambda: _api_issues(site, root)),
    ]
    if "mqtt" not in found:  # a missing secret or TLS file is already named
        stages.append((("mqtt",), lambda: _broker_issues(site, root)))
    if load_model and "models" not in found:
        stages.append((("models",), lambda: _model_issues(site, root)))
    for loc, stage in stages:
        issues.extend(_guarded(file, root, loc, stage))
    if issues:
        raise ConfigError(_tidy(issues))
    return site


def _guarded(file: str, root: yaml.Node | None, loc: Loc, stage: Stage) -> list[ConfigIssue]:
    try:
        return stage()
    except Exception as exc:
        log.exception("config check of %s failed unexpectedly", file)
        return [issue_at(file, root, loc, _unexpected(exc))]


def _unexpected(exc: BaseException) -> str:
    return f"could not be checked ({type(exc).__name__}: {exc}); please report this as a bug"


def _tidy(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    """Every issue with a line and a message of bounded length, at most MAX_ISSUES of them."""
    out = []
    for issue in issues[:MAX_ISSUES]:
        message = issue.message
        if len(message) > _MESSAGE_CHARS:
            message = message[: _MESSAGE_CHARS - 3] + "..."
        out.append(dataclasses.replace(issue, line=issue.line or 1, message=message))
    return out


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, ValueError):
        return "the path holds a NUL character"
    return str(exc)


# --- storage -----------------------------------------------------------------------------------


def _storage_issues(site: SiteConfig, root: yaml.Node | None) -> list[ConfigIssue]:
    """The outbox, alert store and snapshots go here: it must exist (it is created, as `edge
    run` would) and take a file; a database already in it must be one."""
    file, loc = site.path.name, ("storage", "dir")
    directory = site.storage_dir
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return [issue_at(file, root, loc, f"{directory} exists and is not a directory")]
    except (OSError, ValueError) as exc:
        return [issue_at(file, root, loc, f"cannot create {directory}: {_why(exc)}")]
    if not directory.is_dir():
        return [issue_at(file, root, loc, f"{directory} is not a directory")]
    try:
        fd, probe = tempfile.mkstemp(prefix=".gs-check-", dir=directory)
        try:
            os.write(fd, b"x")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        return [issue_at(file, root, loc, f"cannot write in {directory}: {_why(exc)}")]
    issues = []
    for db in sorted(directory.glob("*.sqlite3")):
        problem = _database_problem(db)
        if problem is not None:
            issues.append(issue_at(file, root, loc, problem))
    return issues


def _database_problem(path: Path) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        return f"cannot open {path}: {_why(exc)}"
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return f"{path} is not a regular file"
        head = os.read(fd, len(_SQLITE_HEADER))
    except OSError as exc:
        return f"cannot read {path}: {_why(exc)}"
    finally:
        os.close(fd)
    if head and head != _SQLITE_HEADER:
        return f"{path} is not an SQLite database; move it aside and the node starts afresh"
    return None


# --- MQTT --------------------------------------------------------------------------------------


def _broker_issues(site: SiteConfig, root: yaml.Node | None) -> list[ConfigIssue]:
    """The broker address and TLS context exactly as the MQTT link builds them at start."""
    file, mqtt = site.path.name, site.settings.mqtt
    try:
        address = broker_settings(site, warn=False)
    except ValueError as exc:  # a bad URL, a secret that cannot be read
        return [issue_at(file, root, ("mqtt", "url"), str(exc))]
    if not address.tls:
        return []
    try:
        (address.tls_options or TlsOptions()).context()
    except TlsConfigError as exc:
        if mqtt.tls is None:
            where: Loc = ("mqtt", "url")
        elif str(exc).startswith("TLS ca_file"):
            where = ("mqtt", "tls", "ca_file")
        else:
            where = ("mqtt", "tls", "cert_file")
        return [issue_at(file, root, where, str(exc))]
    return []


def _topic_issues(site: SiteConfig, root: yaml.Node | None) -> list[ConfigIssue]:
    settings = site.settings
    try:
        Topics(settings.topic_prefix)
    except ValueError as exc:
        where: Loc = ("mqtt", "topic_prefix") if settings.mqtt.topic_prefix else ("site", "id")
        return [issue_at(site.path.name, root, where, str(exc))]
    return []


# --- cameras and the API -------------------------------------------------------------------------


def _stream_issues(site: SiteConfig, root: yaml.Node | None) -> list[ConfigIssue]:
    """A stream URL a camera could never be opened with (files are checked by the loader)."""
    issues = []
    for i, camera in enumerate(site.settings.cameras):
        try:
            kind = parse_source(camera.source).kind
        except ValueError:
            continue  # named by the loader
        if not camera.enabled or kind is not SourceKind.STREAM:
            continue
        problem = _url_problem(camera.source.strip())
        if problem is not None:
            shown = mask_credentials(camera.source)[:200]
            loc: Loc = ("cameras", i, "source")
            issues.append(issue_at(site.path.name, root, loc, f"{shown!r}: {problem}"))
    return issues


def _url_problem(url: str) -> str | None:
    if any(c.isspace() or not c.isprintable() for c in url):
        return "the URL holds spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a usable URL ({exc})"
    if not parts.hostname:
        return "the URL has no host"
    if port == 0:
        return "port 0 is not a port in 1..65535"
    return None


def _api_issues(site: SiteConfig, root: yaml.Node | None) -> list[ConfigIssue]:
    api = site.settings.api
    if not api.enabled:
        return []
    host = api.host
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        if len(host) > 253 or not _HOST_NAME.fullmatch(host):
            message = f"{host[:100]!r} is not an IP address or a host name to listen on"
            return [issue_at(site.path.name, root, ("api", "host"), message)]
    return []


# --- the model ---------------------------------------------------------------------------------

_model_verdicts: dict[tuple[object, ...], tuple[Loc, str] | None] = {}
_model_lock = threading.Lock()
_MODEL_VERDICTS_KEPT = 16


def _identity(path: Path) -> tuple[object, ...] | None:
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return (str(path), info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def _model_issues(site: SiteConfig, root: yaml.Node | None) -> list[ConfigIssue]:
    """The detector (and lift verifier) loaded as a detection lane loads them. The verdict is
    kept per file identity and `models` settings, so an unchanged model is opened once per
    process, not on every API edit."""
    models = site.settings.models
    verifier = site.resolve(models.verifier) if models.verifier else None
    key = (
        _identity(site.detector_path),
        _identity(verifier) if verifier is not None else None,
        models.model_dump_json(),
    )
    with _model_lock:
        known = key in _model_verdicts
        verdict = _model_verdicts.get(key)
    if not known:
        verdict = _load_model(site)
        with _model_lock:
            if len(_model_verdicts) >= _MODEL_VERDICTS_KEPT:
                _model_verdicts.pop(next(iter(_model_verdicts)))
            _model_verdicts[key] = verdict
    if verdict is None:
        return []
    loc, message = verdict
    return [issue_at(site.path.name, root, loc, message)]


def _load_model(site: SiteConfig) -> tuple[Loc, str] | None:
    try:
        build_detection(site, threads=1)
    except VerifierFileError as exc:
        return ("models", "verifier"), str(exc)
    except ModelError as exc:
        names = "class_map names" in str(exc)
        return ("models", "classes" if names else "detector"), str(exc)
    except Exception as exc:  # onnxruntime and onnx raise their own types
        return ("models", "detector"), f"cannot be loaded: {exc}"
    return None
