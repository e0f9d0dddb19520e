"""kind_settings: an admin's per-kind overrides of the serve options (issue 16).

One row per kind that an admin changed; a kind without a row, or a NULL column, takes the
value from the command line or the config file. The row is read inside each transaction that
opens, re-opens or dispatches a case, so every replica acts on the same settings at once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from grid_console.db.base import Base
from grid_console.db.types import UtcDateTime


class KindSetting(Base):
    __tablename__ = "kind_settings"

    kind: Mapped[str] = mapped_column(String(64), primary_key=True)  # as cases.kind
    response_s: Mapped[int | None] = mapped_column(Integer)
    handle_s: Mapped[int | None] = mapped_column(Integer)
    auto_register: Mapped[bool | None] = mapped_column(Boolean)
    # on_duty, all_on_duty, manual, or by_severity (the severity's rule, ignoring the flags'
    # rule for the kind)
    dispatch: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_by: Mapped[str] = mapped_column(String(128))
