"""The node's topic builders come from the shared contract module (grid_contract.topics).

Kept as an import path so the node reads `edge.mqtt.topics` like every other part of its MQTT
side; the console imports `grid_contract` directly and never this package.
"""

from grid_contract.topics import DEFAULT_PREFIX_TEMPLATE, Topics, check_prefix, check_segment

__all__ = ["DEFAULT_PREFIX_TEMPLATE", "Topics", "check_prefix", "check_segment"]
