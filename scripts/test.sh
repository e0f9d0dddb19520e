#!/usr/bin/env bash
# The test command (README.md "Tests"): set up the virtualenv, then lint, type-check and test.
# Needs the `mosquitto` binary on PATH (Debian: apt-get install mosquitto); the tests start
# their own brokers on free loopback ports. The grid console's tests also start their own
# PostgreSQL cluster from Debian's `postgresql` package (skipped, with the reason, without it).
# Shared models and footage are found through GRID_SHARED_DIR (default: ../shared beside this
# repository).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'

.venv/bin/ruff check edge grid_contract grid_console tests
.venv/bin/ruff format --check edge grid_contract grid_console tests
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
