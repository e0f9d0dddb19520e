"""A node's evidence clip, fetched once when someone opens the case and kept by sha256."""
