"""Alembic migrations, shipped inside the package; run them with `grid-console migrate`."""
