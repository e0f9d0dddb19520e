"""The HTTP API (FastAPI). Pages come in a later slice."""
