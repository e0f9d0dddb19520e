"""Grid Sentinel edge node."""

__version__ = "0.1.0"
