"""The database: engine set-up for SQLite and PostgreSQL, column types, migrations."""
