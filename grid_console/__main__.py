"""`python -m grid_console`: the same as the `grid-console` command."""

from grid_console.cli import main

raise SystemExit(main())
