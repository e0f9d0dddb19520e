"""Everything `grid-console serve` needs, validated once at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from grid_console.cases.policy import CasePolicy
from grid_console.clips.service import ClipSettings
from grid_console.db.engine import default_url, normalise_url
from grid_console.ingest.broker import BrokerAddress
from grid_console.ingest.schemas import default_schemas_dir
from grid_console.notify.setup import NotifySettings
from grid_console.per_node import PerNodeFiles

DEFAULT_DATA_DIR = Path("var/console")
DEFAULT_CLIENT_ID = "grid-console"


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    broker: BrokerAddress
    db_url: str = ""  # empty: SQLite in data_dir
    topic_root: str = "grid"
    host: str = "127.0.0.1"
    port: int = 8090
    # The keys that sign commands, for every node or per node (grid_console/commands/keys.py).
    command_key_files: PerNodeFiles = field(default_factory=PerNodeFiles)
    client_id: str = DEFAULT_CLIENT_ID
    share_group: str | None = None
    session_expiry_s: int = 7 * 24 * 3600
    schemas_dir: Path = field(default_factory=default_schemas_dir)
    policy: CasePolicy = field(default_factory=CasePolicy)
    notify: NotifySettings = field(default_factory=NotifySettings)
    # The first admin's password (GRID_CONSOLE_ADMIN_PASSWORD); None: generate and print it.
    admin_password: str | None = None
    # Session cookies only over HTTPS; off only for plain-HTTP test set-ups.
    cookie_secure: bool = True
    deadline_poll_s: float = 1.0
    # The bearer token Prometheus sends for /metrics (grid_console/metrics/access.py).
    metrics_token_file: Path | None = None
    # Fetching a node's evidence clip (grid_console/clips/): size cap, deadline, node tokens.
    clips: ClipSettings = field(default_factory=ClipSettings)

    def database_url(self) -> str:
        return normalise_url(self.db_url) if self.db_url else default_url(self.data_dir)
