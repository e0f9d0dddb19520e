"""The grid console: the monitoring centre's side of Grid Sentinel (issue 16, docs/console.md).

It receives what edge nodes publish over MQTT (the contract in mqtt/topics.md), keeps one case
per alert in a database (SQLite by default, PostgreSQL in production) and carries each case
through its states, sending signed commands back to the node. It knows nodes only through that
contract: it imports `grid_contract`, never `edge`.

One folder per domain: `ingest/` (MQTT in, validation, quarantine), `cases/` (the state machine
and its audit trail), `commands/` (the signed command outbox), `nodes/` (node and device
health), `snapshots/` (evidence stored once by sha256), `db/` (engine, types, migrations),
`web/` (the HTTP API). `app.py` wires them together; `cli.py` is the command line.
"""
