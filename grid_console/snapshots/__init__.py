"""Alert evidence (JPEG snapshots), each stored once by its sha256."""
