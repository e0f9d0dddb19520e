"""Who may read `/metrics`, decided the way the node decides its protected reads.

The node leaves reads open while its API listens on loopback only and asks for its token once
it listens beyond (edge/api/auth.py). The console does the same, with one more door:

- a request with `Authorization: Bearer <the metrics token>` (`--metrics-token-file`): what a
  Prometheus server sends (`authorization.credentials_file` in its scrape config). The file is
  read on every scrape, so a rotated token takes effect without a restart;
- a signed-in admin or operator (their bearer token or session cookie), like `/api/health`;
- anyone else only when the console listens on loopback, the request comes from loopback and
  no metrics token is configured: a scraper on the same host needs no set-up, and nothing
  beyond the host can reach it. Configuring a token closes this door too (a reverse proxy on
  the same host would otherwise pass the world in as loopback).
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from pathlib import Path

from fastapi import HTTPException, Request

from grid_console.auth.roles import READS_DIRECTORY
from grid_console.web.security import Security
from grid_contract.hosts import is_loopback

logger = logging.getLogger(__name__)


def read_metrics_token(path: Path | None) -> str | None:
    """The token in `path` (stripped), None without a file; an unreadable file refuses all."""
    if path is None:
        return None
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        logger.error("metrics token file %s: %s", path, exc.strerror)
        return ""  # configured but unreadable: nobody gets in with a token, nobody anonymous
    if not token:
        logger.error("metrics token file %s is empty", path)
    return token


@dataclass(frozen=True, slots=True)
class MetricsAccess:
    security: Security
    token_file: Path | None
    listens_on_loopback: bool

    def check(self, request: Request) -> None:
        """Returns when the request may read the metrics; raises 401/403 otherwise."""
        token = read_metrics_token(self.token_file)
        given = _bearer(request)
        if token and given and hmac.compare_digest(given.encode(), token.encode()):
            return
        client = request.client.host if request.client else None
        if token is None and self.listens_on_loopback and is_loopback(client) and not given:
            return
        who = self.security.principal(request)  # 401 without a valid session
        if who.role not in READS_DIRECTORY:
            raise HTTPException(403, f"角色 {who.role.value} 无权访问 / role not allowed")


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None
