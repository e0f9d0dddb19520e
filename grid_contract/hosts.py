"""Whether a host name or address is this machine's loopback.

Both sides ask: the node (its API protects reads beyond loopback; a broker password sent in
clear text beyond loopback is warned about) and the grid console (the metrics route; the same
broker warning). One answer for both, so `[::1]`, `LOCALHOST.` and `0.0.0.0` are judged alike.
"""

from __future__ import annotations

import ipaddress


def is_loopback(host: str | None) -> bool:
    """localhost (and *.localhost), 127.0.0.0/8 or ::1; a wildcard such as 0.0.0.0 is not."""
    if not host:
        return False
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
