"""The console knows nodes only through the MQTT contract: it never imports `edge`."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import pkgutil, sys
import grid_console
names = []
for info in pkgutil.walk_packages(grid_console.__path__, "grid_console."):
    # Alembic's env and the revisions run only inside `migrate`, and env refuses to be
    # imported on its own; everything else is imported.
    if ".migrations" in info.name or info.name == "grid_console.__main__":
        continue
    __import__(info.name)
    names.append(info.name)
import grid_console.db.migrations.versions.v0001_initial
leaked = sorted(m for m in sys.modules if m == "edge" or m.startswith("edge."))
print(len(names), leaked)
"""


def test_no_module_of_the_console_imports_edge() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=True
    )
    count, leaked = done.stdout.split(" ", 1)
    assert int(count) > 20
    assert leaked.strip() == "[]"
