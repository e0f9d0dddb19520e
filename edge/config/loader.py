"""Read a site config from YAML and report every mistake with file, line and key path.

An installer sees `site.yaml:14 cameras[1].zones[0].polygon: needs at least 3 points`, not a
pydantic traceback, and the node refuses to start until the file is right.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError

from edge.config.bounded import (
    MAX_CONFIG_BYTES,
    FileProblemError,
    YamlProblemsError,
    parse_yaml,
    read_limited,
)
from edge.config.model import Camera, Settings
from edge.config.secrets import SecretError, expand_user, resolve_secret
from edge.video.source import SourceKind, parse_source
from grid_contract.signing import MIN_KEY_CHARS

Loc = tuple[int | str, ...]

MAX_ISSUES = 100
"""Problems listed at most; a file with thousands of them gets the first ones and a count."""
MAX_PEM_BYTES = 1 << 20
"""A CA bundle, certificate or key file; the system's whole CA bundle is about 200 KB."""


def is_file_source(source: str) -> bool:
    """A camera source that names a file (not a stream URL or a device index)."""
    return parse_source(source).kind is SourceKind.FILE


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    file: str
    line: int | None
    path: str
    message: str
    # pydantic's error type and its limits (e.g. "greater_than_equal", {"ge": 0}), so that a
    # page can say the same thing in the operator's language; empty for the node's own checks.
    code: str = ""
    ctx: tuple[tuple[str, str | float], ...] = ()

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where} {self.path}: {self.message}" if self.path else f"{where} {self.message}"


class ConfigError(Exception):
    """The config cannot be used; `issues` lists every problem found."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        super().__init__("\n".join(str(i) for i in issues))
        self.issues = issues


@dataclass(frozen=True, slots=True)
class SiteConfig:
    """Validated settings plus where they came from, to resolve relative paths."""

    settings: Settings
    path: Path
    models_dir_override: Path | None = None

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, value: str) -> Path:
        p = expand_user(value)
        return p if p.is_absolute() else (self.base_dir / p)

    @property
    def models_dir(self) -> Path:
        if self.models_dir_override is not None:
            return self.models_dir_override
        return self.resolve(self.settings.models.dir)

    @property
    def detector_path(self) -> Path:
        return self.models_dir / self.settings.models.detector

    @property
    def storage_dir(self) -> Path:
        return self.resolve(self.settings.storage.dir)

    def mqtt_password(self) -> str | None:
        """The broker password, read now from where the config says (checked at load)."""
        return resolve_secret(self.settings.mqtt.password, self.base_dir)

    def api_token(self) -> str | None:
        """The API's bearer token, read now from where the config says (checked at load)."""
        return resolve_secret(self.settings.api.token, self.base_dir)

    def command_key(self) -> str | None:
        """The key platform commands are signed with, read now (checked at load)."""
        return resolve_secret(self.settings.commands.key, self.base_dir)

    def camera_source(self, camera: Camera) -> str:
        """The source as OpenCV should open it: file paths resolved against the config."""
        if is_file_source(camera.source):
            return str(self.resolve(camera.source))
        return camera.source

    def substream_source(self, camera: Camera) -> str | None:
        """The camera's `substream` as it should be opened, or None without one."""
        if camera.substream is None:
            return None
        if is_file_source(camera.substream):
            return str(self.resolve(camera.substream))
        return camera.substream


def format_path(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _line_of(root: yaml.Node | None, loc: Loc) -> int | None:
    """Line of the deepest YAML node that `loc` reaches (1-based)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def _allowed_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """Field names of the pydantic model that `loc` (minus the bad key) points into."""
    current: type[BaseModel] | None = model
    for part in loc[:-1]:
        if current is None or isinstance(part, int):
            continue
        field = current.model_fields.get(str(part))
        current = _model_in(field.annotation) if field is not None else None
    return sorted(current.model_fields) if current is not None else []


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _message(err: dict[str, object], loc: Loc) -> str:
    kind = err.get("type")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(Settings, loc)
        bad = str(loc[-1]) if loc else ""
        close = difflib.get_close_matches(bad, allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown key{hint} (allowed: {', '.join(allowed)})"
    if kind == "missing":
        return "is required"
    msg = str(err.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")


def _pydantic_issues(exc: ValidationError, root: yaml.Node | None, file: str) -> list[ConfigIssue]:
    issues = []
    errors = exc.errors()
    for err in errors[:MAX_ISSUES]:
        loc: Loc = tuple(err["loc"])
        ctx = tuple(
            (str(k), v if isinstance(v, int | float) and not isinstance(v, bool) else str(v))
            for k, v in (err.get("ctx") or {}).items()
        )
        message, code = _message(dict(err), loc), str(err.get("type", ""))
        issues.append(ConfigIssue(file, _line_of(root, loc), format_path(loc), message, code, ctx))
    if len(errors) > MAX_ISSUES:
        more = f"and {len(errors) - MAX_ISSUES} more problems not listed"
        issues.append(ConfigIssue(file, _line_of(root, ()), "", more))
    return issues


def issue_at(file: str, root: yaml.Node | None, loc: Loc, message: str) -> ConfigIssue:
    """An issue at key path `loc`, on the line the YAML gives it (or its nearest parent's)."""
    return ConfigIssue(file, _line_of(root, loc) or 1, format_path(loc), message)


def is_regular_file(path: Path) -> bool:
    """Path.is_file that is False, not an exception, for a NUL or an over-long name."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _duplicate_issues(settings: Settings, root: yaml.Node | None, file: str) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []

    def check(ids: list[str], base: Loc, what: str) -> None:
        first: dict[str, int] = {}
        for i, ident in enumerate(ids):
            if ident in first:
                loc = (*base, i, "id")
                msg = f"duplicate {what} {ident!r} (first at {format_path((*base, first[ident]))})"
                issues.append(ConfigIssue(file, _line_of(root, loc), format_path(loc), msg))
            else:
                first[ident] = i

    check([c.id for c in settings.cameras], ("cameras",), "camera id")
    for ci, cam in enumerate(settings.cameras):
        check([z.id for z in cam.zones], ("cameras", ci, "zones"), "zone id")
    return issues


def file_issues(site: SiteConfig, root: yaml.Node | None) -> list[ConfigIssue]:
    """The files the config names: model, secrets, TLS files (PEM), camera clips."""
    file = site.path.name
    issues = []
    if not is_regular_file(site.detector_path):
        loc: Loc = ("models", "detector")
        issues.append(
            ConfigIssue(
                file, _line_of(root, loc), format_path(loc), f"file not found: {site.detector_path}"
            )
        )
    issues.extend(_security_issues(site, root))
    for ci, cam in enumerate(site.settings.cameras):
        for key, source in (("source", cam.source), ("substream", cam.substream)):
            if source is None:
                continue
            loc = ("cameras", ci, key)
            try:
                from_file = is_file_source(source)
            except ValueError as exc:
                issues.append(issue_at(file, root, loc, str(exc)))
                continue
            path = site.resolve(source) if from_file else None
            if cam.enabled and path is not None and not is_regular_file(path):
                issues.append(issue_at(file, root, loc, f"file not found: {path}"))
    return issues


def _security_issues(site: SiteConfig, root: yaml.Node | None) -> list[ConfigIssue]:
    file = site.path.name
    issues = []
    mqtt = site.settings.mqtt
    for loc, secret in (
        (("mqtt", "password"), mqtt.password),
        (("api", "token"), site.settings.api.token),
        (("commands", "key"), site.settings.commands.key),
    ):
        try:
            value = resolve_secret(secret, site.base_dir)
        except SecretError as exc:
            issues.append(ConfigIssue(file, _line_of(root, loc), format_path(loc), str(exc)))
            continue
        if loc == ("commands", "key") and value is not None and len(value) < MIN_KEY_CHARS:
            msg = f"a command key needs at least {MIN_KEY_CHARS} characters (edge keygen)"
            issues.append(ConfigIssue(file, _line_of(root, loc), format_path(loc), msg))
    if mqtt.tls is not None:
        for name in ("ca_file", "cert_file", "key_file"):
            value = getattr(mqtt.tls, name)
            problem = _pem_problem(site.resolve(value)) if value is not None else None
            if problem is not None:
                where: Loc = ("mqtt", "tls", name)
                issues.append(ConfigIssue(file, _line_of(root, where), format_path(where), problem))
    return issues


def _pem_problem(path: Path) -> str | None:
    """Why `path` is not a PEM file (read with a size cap, never blocking), or None. Whether
    its certificates and key are usable is for ssl itself: edge/config/check.py."""
    try:
        data = read_limited(path, MAX_PEM_BYTES)
    except FileProblemError as exc:
        return str(exc)
    if b"-----BEGIN " not in data:
        return f"{path} is not a PEM file (no -----BEGIN line)"
    return None


def parse_settings(text: str, file: str = "<config>") -> tuple[Settings, yaml.Node | None]:
    """Validate YAML text; raises ConfigError with every issue found.

    The YAML is read within bounds (edge/config/bounded.py): size, nesting, values, aliases,
    and a key written twice is refused."""
    try:
        data, root = parse_yaml(text)
    except YamlProblemsError as exc:
        raise ConfigError(
            [ConfigIssue(file, p.line, format_path(p.loc), p.message) for p in exc.problems]
        ) from None
    if not isinstance(data, dict):
        raise ConfigError([ConfigIssue(file, 1, "", "must be a YAML mapping (key: value)")])
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_pydantic_issues(exc, root, file)) from exc
    duplicates = _duplicate_issues(settings, root, file)
    if duplicates:
        raise ConfigError(duplicates)
    return settings, root


def load_config(
    path: Path, *, models_dir: Path | None = None, check_files: bool = True
) -> SiteConfig:
    """Load and validate a site config file; raises ConfigError naming file, line and key."""
    return check_text(read_config(path), path, models_dir=models_dir, check_files=check_files)


def read_config(path: Path) -> str:
    """The text of a config file: a regular file of at most MAX_CONFIG_BYTES, UTF-8."""
    try:
        data = read_limited(path, MAX_CONFIG_BYTES)
    except FileProblemError as exc:
        raise ConfigError([ConfigIssue(path.name, 1, "", str(exc))]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError([ConfigIssue(path.name, line, "", "is not UTF-8 text")]) from None


def check_text(
    text: str, path: Path, *, models_dir: Path | None = None, check_files: bool = True
) -> SiteConfig:
    """Validate config text as if it were the file at `path` (relative paths resolve beside
    it); the HTTP API checks a proposed config this way before writing it."""
    settings, root = parse_settings(text, path.name)
    site = SiteConfig(settings=settings, path=path.resolve(), models_dir_override=models_dir)
    if check_files:
        problems = file_issues(site, root)
        if problems:
            raise ConfigError(problems)
    return site
