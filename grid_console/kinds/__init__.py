"""Per-kind timers and routing set by an admin in the database, over the serve options."""
