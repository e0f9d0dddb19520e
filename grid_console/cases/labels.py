"""The words people read for kinds, severities and states: Simplified Chinese first, English second.

Unknown kinds (the contract lets new ones appear in minor releases) fall back to their code, so a
message or a report never fails on a kind it does not know.
"""

from __future__ import annotations

KIND_NAMES: dict[str, tuple[str, str]] = {
    "illegal_parking": ("违章停车", "illegal parking"),
    "fire_lane_blocked": ("消防通道占用", "fire lane blocked"),
    "ebike_in_lift": ("电动车进电梯", "e-bike in lift"),
    "camera_offline": ("摄像头离线", "camera offline"),
    "smoke": ("烟雾报警", "smoke"),
    "gas": ("燃气泄漏", "gas leak"),
    "co": ("一氧化碳超标", "carbon monoxide"),
    "sensor_offline": ("传感器离线", "sensor offline"),
    "sensor_fault": ("传感器故障", "sensor fault"),
    "sensor_tamper": ("传感器被拆动", "sensor tampered with"),
    "sensor_low_battery": ("传感器电量低", "sensor battery low"),
    "storage_fault": ("节点存储故障", "node storage fault"),
    # Raised by the console itself when a node's last will says it went offline.
    "node_offline": ("节点离线", "node offline"),
}

SEVERITY_NAMES: dict[str, tuple[str, str]] = {
    "info": ("提示", "info"),
    "warning": ("一般", "warning"),
    "major": ("重要", "major"),
    "critical": ("紧急", "critical"),
}

STATE_NAMES: dict[str, tuple[str, str]] = {
    "reported": ("信息采集", "reported"),
    "registered": ("已立案", "registered"),
    "dispatched": ("已派遣", "dispatched"),
    "accepted": ("已接单", "accepted"),
    "on_site": ("已到场", "on site"),
    "handled": ("已处置", "handled"),
    "closed": ("已结案", "closed"),
    "false_alarm": ("误报", "false alarm"),
    "returned": ("已退回", "returned"),
    "deferred": ("挂账", "deferred"),
}


def kind_name(kind: str) -> tuple[str, str]:
    return KIND_NAMES.get(kind, (kind, kind))


def severity_name(severity: str) -> tuple[str, str]:
    return SEVERITY_NAMES.get(severity, (severity, severity))


def state_name(state: str) -> tuple[str, str]:
    return STATE_NAMES.get(state, (state, state))
