"""`GET /metrics`: the console in Prometheus text, from one registry per app."""
