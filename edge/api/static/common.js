// Shared by the installer and operator pages: translations, the API token, fetch helpers.
// Plain JS, no build step, nothing fetched from the internet.
"use strict";

const I18N = {
  zh: {
    "lang.switch": "English",
    "list.sep": "、",
    "token": "令牌",
    "token.placeholder": "API 令牌（写操作需要）",
    "nav.installer": "安装调试",
    "nav.operator": "告警值守",
    "installer.title": "安装调试 · 区域划定",
    "operator.title": "告警值守",
    "camera": "摄像头",
    "camera.none": "没有摄像头",
    "camera.offline": "离线",
    "camera.waiting": "等待画面…",
    "camera.hint": "在画面上单击添加顶点；拖动顶点移动；右键或选中后按 Delete 删除顶点；单击第一个顶点或“闭合”完成区域。",
    "zones": "区域",
    "zone.new": "新建区域",
    "zone.delete": "删除区域",
    "zone.close": "闭合",
    "zone.deletePoint": "删除顶点",
    "zone.drawing": "绘制中",
    "zone.points": "个顶点",
    "zone.none": "还没有区域。点“新建区域”，然后在画面上单击。",
    "zone.id": "区域编号",
    "zone.name": "名称",
    "zone.kind": "类型",
    "zone.grace_s": "宽限时间（秒）",
    "zone.clear_after_s": "解除时间（秒）",
    "zone.min_confidence": "最低置信度",
    "zone.categories": "目标类别",
    "zone.categories.default": "不选则用默认：",
    "zone.polygon": "多边形",
    "zone.other": "其他设置（保留）：",
    "zone.default": "默认",
    "kind.no_parking": "禁停区",
    "kind.fire_lane": "消防通道",
    "kind.lift": "电梯",
    "cat.vehicle": "机动车",
    "cat.two_wheeler": "两轮车",
    "cat.person": "行人",
    "save": "保存区域",
    "reload": "放弃修改",
    "saving": "保存中…",
    "saved": "已保存并生效",
    "save.invalid": "设置有误，请看字段旁的提示",
    "err.401": "令牌错误或缺失",
    "err.403": "节点未配置令牌，写操作已禁用：在站点配置中设置 api.token（例如 {file: api.token}，文件内容用 edge keygen 生成），然后 kill -HUP 节点或重启",
    "err.409": "配置已被他人修改，请重新加载",
    "err.network": "无法连接节点",
    "clip.title": "用录像测试",
    "clip.pick": "已有录像",
    "clip.none": "（无）",
    "clip.upload": "上传",
    "clip.uploaded": "已上传",
    "clip.still": "静态图片持续（秒）",
    "clip.run": "用当前区域测试",
    "clip.running": "回放中…",
    "clip.result": "{frames} 帧，视频 {video} 秒，用时 {wall} 秒，告警 {n} 条",
    "clip.noAlerts": "这段录像不会产生告警。",
    "clip.needClip": "请先选择或上传录像",
    "operator.by": "值班员",
    "status.broker": "平台连接",
    "status.outbox": "待发",
    "status.open": "未关闭告警",
    "status.cameras": "摄像头",
    "status.sensors": "传感器",
    "status.online": "在线",
    "status.offline": "离线",
    "live.connected": "实时推送已连接",
    "live.lost": "实时推送中断，重连中…",
    "sound.on": "声音：开",
    "sound.off": "声音：静音",
    "alerts": "告警",
    "alerts.none": "暂无告警",
    "alerts.hideClosed": "隐藏已关闭",
    "alert.grid": "网格",
    "alert.started": "开始",
    "alert.dwell": "持续",
    "alert.source": "来源",
    "alert.escalated": "已升级",
    "alert.by": "处理人",
    "alert.noPicture": "无图片",
    "event.raised": "触发",
    "event.updated": "更新",
    "event.cleared": "消除",
    "event.acknowledged": "确认",
    "event.released": "误报解除",
    "event.resolved": "处置",
    "event.escalated": "升级",
    "action.ack": "确认",
    "action.release": "误报解除",
    "action.resolve": "已处置",
    "state.open": "待处理",
    "state.acknowledged": "已确认",
    "state.cleared": "已消除",
    "state.released": "误报解除",
    "state.resolved": "已处置",
    "sev.info": "提示",
    "sev.warning": "一般",
    "sev.major": "重要",
    "sev.critical": "紧急",
    "alertkind.illegal_parking": "违停",
    "alertkind.fire_lane_blocked": "消防通道占用",
    "alertkind.ebike_in_lift": "电动车进电梯",
    "alertkind.smoke": "烟雾报警",
    "alertkind.gas": "燃气报警",
    "alertkind.co": "一氧化碳报警",
    "alertkind.camera_offline": "摄像头离线",
    "alertkind.sensor_offline": "传感器离线",
    "alertkind.sensor_fault": "传感器故障",
    "alertkind.sensor_tamper": "传感器被拆",
    "alertkind.sensor_low_battery": "传感器电量低",
    "alertkind.storage_fault": "节点存储故障",
    "sensorkind.smoke": "烟感",
    "sensorkind.gas": "燃气",
    "sensorkind.co": "一氧化碳",
    "unit.h": "时",
    "unit.m": "分",
    "unit.s": "秒",
    "sound.blocked": "声音已关闭，点击开启",
    "sound.muted": "已静音",
    "down.node": "节点无响应，自 {since} 起（{ago}前）；以下状态不再实时",
    "down.link": "平台连接中断，自 {since} 起；告警在节点排队待发（{n} 条）",
    "down.linkNoSince": "平台连接中断；告警在节点排队待发（{n} 条）",
    "status.unknown": "未知",
    "status.since": "自 {since}",
    "alert.zone": "区域",
    "note.placeholder": "备注（可选），例如：现场核实为业主临时停车",
    "note.confirm.release": "确认误报解除",
    "note.confirm.resolve": "确认已处置",
    "note.cancel": "取消",
    "note.title.release": "误报解除：写明原因（可选）",
    "note.title.resolve": "已处置：写明处置情况（可选）",
    "camera.hint.touch": "点按画面添加顶点；按住顶点拖动来移动；点选顶点后按“删除顶点”删除；点第一个顶点或“闭合”完成区域。",
    "confirm.discard": "有未保存的区域修改，确定放弃吗？",
    "confirm.deleteZone": "删除区域“{id}”？（点“保存区域”后才写入配置）",
    "unsaved": "有未保存的修改",
    "zone.settings": "规则设置",
    "zone.advanced": "更多设置",
    "zone.kindOnly": "仅{kinds}",
    "zone.earliest.dwell": "目标停下后最早约 {t} 秒告警。",
    "zone.earliest.window": "由“静止确认时间”（{w} 秒）决定：它长于宽限时间（{g} 秒），目标先要静止 {w} 秒才算停下，停下后才开始按宽限计时（从停下时刻倒推）。",
    "zone.earliest.grace": "由“宽限时间”（{g} 秒）决定；静止确认时间为 {w} 秒。",
    "zone.earliest.lift": "在 {c} 秒内有 {n} 帧看到两轮车即告警。",
    "zone.unset": "未设置",
    "det.show": "显示检测框",
    "det.none": "最新一帧没有检测到目标",
    "det.count": "检测到 {n} 个目标（{at}）",
    "val.field": "{field}：{message}",
    "val.greater_than_equal": "不能小于 {ge}",
    "val.greater_than": "必须大于 {gt}",
    "val.less_than_equal": "不能大于 {le}",
    "val.less_than": "必须小于 {lt}",
    "val.number": "必须是数字",
    "val.integer": "必须是整数",
    "val.string_too_long": "最多 {max_length} 个字符",
    "val.string_too_short": "不能为空",
    "val.too_short": "至少需要 {min_length} 项",
    "val.too_long": "最多 {max_length} 项",
    "val.missing": "必须填写",
    "val.enum": "只能是以下之一：{expected}",
    "val.extra_forbidden": "不是可用的设置",
    "val.pattern": "只能用英文字母、数字和 _ - .，且以字母或数字开头",
    "val.id.pattern": "只能用英文字母、数字和 _ - .，且以字母或数字开头（编号会写进告警消息、MQTT 主题和平台记录，须保持稳定、可作文件名）。中文请填在“名称”里，值班页面显示的是名称。",
    "val.polygon": "多边形至少需要 3 个不共线的顶点，且边不能交叉",
    "val.max_gap": "最长丢失时间（默认等于解除时间）必须长于静止确认时间，否则车辆短暂检测不到就会重新计时",
    "val.duplicate": "编号重复：同一摄像头下区域编号必须唯一",
    "val.categories_empty": "至少选一个类别，或全部不选以使用默认",
    "zf.min_confidence": "最低置信度",
    "zf.min_confidence.unit": "0–1",
    "zf.min_confidence.help": "模型把握低于此值的检测不计入。调高少误报，调低少漏报。",
    "zf.min_area": "最小目标面积",
    "zf.min_area.unit": "占画面比例 0–1",
    "zf.min_area.help": "框面积小于画面这一比例的目标忽略，用来过滤远处的小点。0.0005 约为 1/2000 画面。",
    "zf.grace_s": "宽限时间",
    "zf.grace_s.unit": "秒",
    "zf.grace_s.help": "目标停稳后还要停留这么久才告警（违停、消防通道）。",
    "zf.clear_after_s": "解除时间",
    "zf.clear_after_s.unit": "秒",
    "zf.clear_after_s.help": "目标离开区域（看不到）这么久后告警才消除。",
    "zf.update_every_s": "重发间隔",
    "zf.update_every_s.unit": "秒",
    "zf.update_every_s.help": "告警未消除时，每隔这么久重发一次（带上持续时间）。",
    "zf.stationary_iou": "静止重叠度",
    "zf.stationary_iou.unit": "0.1–0.99",
    "zf.stationary_iou.help": "目标框与停下时的位置重叠不低于此值，算作没有移动。",
    "zf.stationary_window_s": "静止确认时间",
    "zf.stationary_window_s.unit": "秒",
    "zf.stationary_window_s.help": "目标在原地保持这么久才算“停下”。宽限时间从停下时刻倒推计时，所以最早告警在宽限时间与此值中较大者。",
    "zf.max_gap_s": "最长丢失时间",
    "zf.max_gap_s.unit": "秒",
    "zf.max_gap_s.help": "告警前，已停下的目标连续这么久看不到就重新计时；默认等于解除时间，须长于静止确认时间。",
    "zf.confirm_s": "确认窗口",
    "zf.confirm_s.unit": "秒",
    "zf.confirm_s.help": "电梯：在这段时间内要看到足够多帧两轮车才告警。",
    "zf.min_hits": "确认帧数",
    "zf.min_hits.unit": "帧",
    "zf.min_hits.help": "电梯：确认窗口内至少这么多帧看到两轮车才告警。调高少误报，但告警更晚。",
    "zf.severity": "告警级别",
    "zf.severity.unit": "",
    "zf.severity.help": "告警的严重程度；不选则按类型默认（禁停一般，消防通道重要，电梯紧急）。",
    "zf.release_hold_s": "误报静默保持",
    "zf.release_hold_s.unit": "秒",
    "zf.release_hold_s.help": "值班员标记误报后，目标看不到多久之内再出现仍保持静默（被路人挡住、检测闪断时不重复告警）。",
    "zf.verifier_threshold": "复核阈值",
    "zf.verifier_threshold.unit": "0–1",
    "zf.verifier_threshold.help": "电梯复核模型：一帧得分达到此值才算命中；默认取复核模型文件里的值（0.5）。调低多发现电动车，也多误报。",
    "zf.verifier_frames": "复核连续帧数",
    "zf.verifier_frames.unit": "帧",
    "zf.verifier_frames.help": "电梯复核模型：同一辆电动车（框在帧间连续移动，间隔不超过确认窗口）要有这么多帧通过复核才算命中；别处一次孤立的判断不算。设为 1 则逐帧判断。",
    "zf.verifier_rider": "要求人车同框",
    "zf.verifier_rider.unit": "",
    "zf.verifier_rider.help": "电梯复核模型：还要求至少一帧在电动车上或旁边看到人。默认关闭：人被挡住时推车进梯会漏报。",
    "zone.yes": "是",
    "unit.wrap": "{label}（{unit}）",
    "zone.no": "否",
    "zf.actions.door_hold": "保持开门执行器",
    "zf.actions.door_hold.unit": "名称",
    "zf.actions.door_hold.help": "电梯：告警期间让电梯保持开门的执行器名（发到 {prefix}/actuators/名称）。",
    "zf.actions.voice_prompt": "语音提示执行器",
    "zf.actions.voice_prompt.unit": "名称",
    "zf.actions.voice_prompt.help": "电梯：告警时播放语音提示的执行器名。",
    "zf.actions.voice_text": "语音内容",
    "zf.actions.voice_text.unit": "",
    "zf.actions.voice_text.help": "语音提示播放的内容。",
  },
  en: {
    "lang.switch": "中文",
    "list.sep": ", ",
    "token": "Token",
    "token.placeholder": "API token (needed for changes)",
    "nav.installer": "Installer",
    "nav.operator": "Operator",
    "installer.title": "Installer · zones",
    "operator.title": "Alert desk",
    "camera": "Camera",
    "camera.none": "No cameras",
    "camera.offline": "offline",
    "camera.waiting": "Waiting for a picture…",
    "camera.hint": "Click the picture to add corners; drag a corner to move it; right-click it (or select it and press Delete) to remove it; click the first corner or “Close” to finish.",
    "zones": "Zones",
    "zone.new": "New zone",
    "zone.delete": "Delete zone",
    "zone.close": "Close",
    "zone.deletePoint": "Delete corner",
    "zone.drawing": "drawing",
    "zone.points": "corners",
    "zone.none": "No zones yet. Press “New zone”, then click on the picture.",
    "zone.id": "Zone id",
    "zone.name": "Name",
    "zone.kind": "Kind",
    "zone.grace_s": "Grace (s)",
    "zone.clear_after_s": "Clear after (s)",
    "zone.min_confidence": "Min. confidence",
    "zone.categories": "Categories",
    "zone.categories.default": "None ticked means the default: ",
    "zone.polygon": "Polygon",
    "zone.other": "Other settings (kept): ",
    "zone.default": "default",
    "kind.no_parking": "No parking",
    "kind.fire_lane": "Fire lane",
    "kind.lift": "Lift",
    "cat.vehicle": "Vehicle",
    "cat.two_wheeler": "Two-wheeler",
    "cat.person": "Person",
    "save": "Save zones",
    "reload": "Discard changes",
    "saving": "Saving…",
    "saved": "Saved and applied",
    "save.invalid": "Some settings are invalid; see the fields",
    "err.401": "Wrong or missing token",
    "err.403": "No token configured on the node, so changes are disabled: set api.token in the site file (e.g. {file: api.token} holding the output of edge keygen), then kill -HUP the node or restart it",
    "err.409": "The config was changed meanwhile; reload",
    "err.network": "Cannot reach the node",
    "clip.title": "Test on a clip",
    "clip.pick": "Recorded clip",
    "clip.none": "(none)",
    "clip.upload": "Upload",
    "clip.uploaded": "Uploaded",
    "clip.still": "Still image lasts (s)",
    "clip.run": "Test with the zones on screen",
    "clip.running": "Replaying…",
    "clip.result": "{frames} frames, {video} s of video in {wall} s, {n} alert(s)",
    "clip.noAlerts": "This clip raises no alert.",
    "clip.needClip": "Pick or upload a clip first",
    "operator.by": "Operator",
    "status.broker": "Platform link",
    "status.outbox": "queued",
    "status.open": "Open alerts",
    "status.cameras": "Cameras",
    "status.sensors": "Sensors",
    "status.online": "online",
    "status.offline": "offline",
    "live.connected": "Live",
    "live.lost": "Live feed lost, reconnecting…",
    "sound.on": "Sound: on",
    "sound.off": "Sound: muted",
    "alerts": "Alerts",
    "alerts.none": "No alerts",
    "alerts.hideClosed": "Hide closed",
    "alert.grid": "Grid",
    "alert.started": "Started",
    "alert.dwell": "Dwell",
    "alert.source": "Source",
    "alert.escalated": "escalated",
    "alert.by": "Handled by",
    "alert.noPicture": "no picture",
    "event.raised": "raised",
    "event.updated": "updated",
    "event.cleared": "cleared",
    "event.acknowledged": "acknowledged",
    "event.released": "released",
    "event.resolved": "resolved",
    "event.escalated": "escalated",
    "action.ack": "Acknowledge",
    "action.release": "Release",
    "action.resolve": "Resolve",
    "state.open": "Open",
    "state.acknowledged": "Acknowledged",
    "state.cleared": "Cleared",
    "state.released": "Released (false alarm)",
    "state.resolved": "Resolved",
    "sev.info": "info",
    "sev.warning": "warning",
    "sev.major": "major",
    "sev.critical": "critical",
    "alertkind.illegal_parking": "Illegal parking",
    "alertkind.fire_lane_blocked": "Fire lane blocked",
    "alertkind.ebike_in_lift": "E-bike in lift",
    "alertkind.smoke": "Smoke alarm",
    "alertkind.gas": "Gas alarm",
    "alertkind.co": "CO alarm",
    "alertkind.camera_offline": "Camera offline",
    "alertkind.sensor_offline": "Sensor offline",
    "alertkind.sensor_fault": "Sensor fault",
    "alertkind.sensor_tamper": "Sensor tampered",
    "alertkind.sensor_low_battery": "Sensor battery low",
    "alertkind.storage_fault": "Node storage fault",
    "sensorkind.smoke": "smoke",
    "sensorkind.gas": "gas",
    "sensorkind.co": "CO",
    "unit.h": "h",
    "unit.m": "m",
    "unit.s": "s",
    "sound.blocked": "Sound off, click to enable",
    "sound.muted": "Muted",
    "down.node": "Node not responding since {since} ({ago} ago); what is shown is no longer live",
    "down.link": "Platform link down since {since}; alerts are queued on the node ({n})",
    "down.linkNoSince": "Platform link down; alerts are queued on the node ({n})",
    "status.unknown": "unknown",
    "status.since": "since {since}",
    "alert.zone": "Zone",
    "note.placeholder": "Note (optional), e.g. a resident's car, checked on site",
    "note.confirm.release": "Confirm release",
    "note.confirm.resolve": "Confirm resolved",
    "note.cancel": "Cancel",
    "note.title.release": "False alarm: why (optional)",
    "note.title.resolve": "Resolved: what was done (optional)",
    "camera.hint.touch": "Tap the picture to add corners; press and drag a corner to move it; tap a corner, then “Delete corner” to remove it; tap the first corner or “Close” to finish.",
    "confirm.discard": "Unsaved zone changes will be lost. Continue?",
    "confirm.deleteZone": "Delete zone “{id}”? (Written to the config only when you save.)",
    "unsaved": "Unsaved changes",
    "zone.settings": "Rule settings",
    "zone.advanced": "More settings",
    "zone.kindOnly": "{kinds} only",
    "zone.earliest.dwell": "Raises at the earliest about {t} s after an object stops.",
    "zone.earliest.window": "Set by the stationary window ({w} s): it is longer than the grace ({g} s), and an object counts as stopped only after {w} s still; the grace is counted from when it stopped.",
    "zone.earliest.grace": "Set by the grace ({g} s); the stationary window is {w} s.",
    "zone.earliest.lift": "Raises once {n} frames within {c} s show a two-wheeler.",
    "zone.unset": "not set",
    "det.show": "Show detections",
    "det.none": "Nothing detected on the latest frame",
    "det.count": "{n} object(s) detected ({at})",
    "val.field": "{field}: {message}",
    "val.greater_than_equal": "must be at least {ge}",
    "val.greater_than": "must be more than {gt}",
    "val.less_than_equal": "must be at most {le}",
    "val.less_than": "must be less than {lt}",
    "val.number": "must be a number",
    "val.integer": "must be a whole number",
    "val.string_too_long": "at most {max_length} characters",
    "val.string_too_short": "must not be empty",
    "val.too_short": "needs at least {min_length} items",
    "val.too_long": "at most {max_length} items",
    "val.missing": "is required",
    "val.enum": "must be one of: {expected}",
    "val.extra_forbidden": "is not a setting",
    "val.pattern": "only letters, digits, _ - . and starting with a letter or digit",
    "val.id.pattern": "only letters, digits, _ - . and starting with a letter or digit (the id goes into alert messages, MQTT topics and the platform's records and must stay stable). Put Chinese in “Name”: operators see the name.",
    "val.polygon": "a polygon needs at least 3 corners not on one line, and no crossing edges",
    "val.max_gap": "the max gap (default: clear after) must be longer than the stationary window, or a vehicle briefly lost to detection starts its grace over",
    "val.duplicate": "duplicate id: zone ids must be unique within a camera",
    "val.categories_empty": "tick at least one category, or none for the default",
    "zf.min_confidence": "Min. confidence",
    "zf.min_confidence.unit": "0–1",
    "zf.min_confidence.help": "Detections the model is less sure of are ignored. Higher: fewer false alarms; lower: fewer misses.",
    "zf.min_area": "Min. object area",
    "zf.min_area.unit": "fraction of the frame, 0–1",
    "zf.min_area.help": "Boxes smaller than this part of the frame are ignored (far-away specks). 0.0005 is about 1/2000 of the frame.",
    "zf.grace_s": "Grace",
    "zf.grace_s.unit": "s",
    "zf.grace_s.help": "How long a stopped object must stay before the alert is raised (parking, fire lane).",
    "zf.clear_after_s": "Clear after",
    "zf.clear_after_s.unit": "s",
    "zf.clear_after_s.help": "How long the zone must be free of the object before the alert clears.",
    "zf.update_every_s": "Re-send every",
    "zf.update_every_s.unit": "s",
    "zf.update_every_s.help": "How often an open alert is re-sent with its dwell.",
    "zf.stationary_iou": "Stationary overlap",
    "zf.stationary_iou.unit": "0.1–0.99",
    "zf.stationary_iou.help": "Overlap with where the object stopped that still counts as not moved.",
    "zf.stationary_window_s": "Stationary window",
    "zf.stationary_window_s.unit": "s",
    "zf.stationary_window_s.help": "An object counts as stopped once it has stayed put this long. The grace is counted from when it stopped, so the earliest alert comes at the larger of the grace and this.",
    "zf.max_gap_s": "Max gap",
    "zf.max_gap_s.unit": "s",
    "zf.max_gap_s.help": "Before the alert, a stopped object unseen this long starts over; default clear after; must exceed the stationary window.",
    "zf.confirm_s": "Confirm window",
    "zf.confirm_s.unit": "s",
    "zf.confirm_s.help": "Lift: the window in which enough frames must show a two-wheeler.",
    "zf.min_hits": "Frames to confirm",
    "zf.min_hits.unit": "frames",
    "zf.min_hits.help": "Lift: frames with a two-wheeler needed within the confirm window. Higher: fewer false alarms, later alerts.",
    "zf.severity": "Severity",
    "zf.severity.unit": "",
    "zf.severity.help": "How serious the alert is; left empty, by kind (parking warning, fire lane major, lift critical).",
    "zf.release_hold_s": "Release hold",
    "zf.release_hold_s.unit": "s",
    "zf.release_hold_s.help": "After an operator releases a false alarm, how long the place stays silent once the object is no longer seen (a passer-by hiding it, a detection dropout).",
    "zf.verifier_threshold": "Verifier threshold",
    "zf.verifier_threshold.unit": "0–1",
    "zf.verifier_threshold.help": "Lift verifier: the score a frame must reach to count; default the verifier file's (0.5). Lower finds more e-bikes and raises more false alarms.",
    "zf.verifier_frames": "Verified frames",
    "zf.verifier_frames.unit": "frames",
    "zf.verifier_frames.help": "Lift verifier: frames of one e-bike track (its box moving on from frame to frame, gaps up to the confirm window) that must pass before any counts; a one-off verdict elsewhere does not. 1 judges frames alone.",
    "zf.verifier_rider": "Require a rider",
    "zf.verifier_rider.unit": "",
    "zf.verifier_rider.help": "Lift verifier: also require a person on or beside the e-bike on at least one frame. Off by default: an e-bike wheeled in with its rider out of view would never alarm.",
    "zone.yes": "yes",
    "unit.wrap": "{label} ({unit})",
    "zone.no": "no",
    "zf.actions.door_hold": "Door-hold actuator",
    "zf.actions.door_hold.unit": "name",
    "zf.actions.door_hold.help": "Lift: the actuator that keeps the doors open while the alert is open ({prefix}/actuators/name).",
    "zf.actions.voice_prompt": "Voice prompt actuator",
    "zf.actions.voice_prompt.unit": "name",
    "zf.actions.voice_prompt.help": "Lift: the actuator that plays a voice prompt at the alert.",
    "zf.actions.voice_text": "Voice text",
    "zf.actions.voice_text.unit": "",
    "zf.actions.voice_text.help": "What the voice prompt says.",
  },
};

const GS = {
  lang: localStorage.getItem("gs.lang") === "en" ? "en" : "zh",
  onLanguage: [],

  t(key, vars) {
    let text = I18N[GS.lang][key] ?? I18N.zh[key] ?? key;
    for (const [name, value] of Object.entries(vars || {})) {
      text = text.split(`{${name}}`).join(value);
    }
    return text;
  },

  // An unknown alert kind is shown as it is (the schema allows new kinds).
  kindLabel(kind) {
    const key = `alertkind.${kind}`;
    return I18N[GS.lang][key] ? GS.t(key) : kind;
  },

  // Elements carry data-i18n (text), data-i18n-placeholder and data-i18n-title.
  translate(root = document) {
    document.documentElement.lang = GS.lang === "zh" ? "zh-CN" : "en";
    for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = GS.t(el.dataset.i18n);
    for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
      el.placeholder = GS.t(el.dataset.i18nPlaceholder);
    }
    for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = GS.t(el.dataset.i18nTitle);
  },

  setLanguage(lang) {
    GS.lang = lang;
    localStorage.setItem("gs.lang", lang);
    GS.translate();
    for (const fn of GS.onLanguage) fn();
  },

  token() {
    return sessionStorage.getItem("gs.token") || "";
  },

  // Reads may be token-protected (api.protect_reads). An <img> cannot send a header, so its URL
  // then carries ?token= (the node accepts it on reads); otherwise the token stays out of URLs.
  readsProtected: false,

  async probeReads() {
    try {
      const res = await fetch("/api/status", { method: "GET" });
      GS.readsProtected = res.status === 401;
    } catch {
      GS.readsProtected = false;
    }
  },

  imageUrl(url) {
    const token = GS.token();
    if (!GS.readsProtected || !token) return url;
    return `${url}${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`;
  },

  headers(extra) {
    const h = { ...(extra || {}) };
    const token = GS.token();
    if (token) h.Authorization = `Bearer ${token}`;
    return h;
  },

  // fetch with the token; resolves to {status, ok, body} (body parsed when JSON), never throws
  // on HTTP errors; a network failure gives status 0.
  async request(method, url, body, contentType = "application/json") {
    const init = { method, headers: GS.headers() };
    if (body !== undefined) {
      init.headers["Content-Type"] = contentType;
      init.body = contentType === "application/json" ? JSON.stringify(body) : body;
    }
    let res;
    try {
      res = await fetch(url, init);
    } catch (err) {
      return { status: 0, ok: false, body: { detail: GS.t("err.network") } };
    }
    let parsed = null;
    const text = await res.text();
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = { detail: text };
    }
    return { status: res.status, ok: res.ok, body: parsed };
  },

  // A short human message for a failed request.
  errorText(res) {
    if ([401, 403, 409].includes(res.status)) return GS.t(`err.${res.status}`);
    const detail = res.body && res.body.detail;
    if (typeof detail === "string") return detail;
    if (res.status === 0) return GS.t("err.network");
    return `HTTP ${res.status}`;
  },

  // A zone setting's name as the pages label it: "grace_s" -> 宽限时间.
  fieldLabel(name) {
    const own = { id: "zone.id", name: "zone.name", kind: "zone.kind", polygon: "zone.polygon", categories: "zone.categories" };
    const key = own[name] || `zf.${name}`;
    return I18N[GS.lang][key] || I18N.zh[key] ? GS.t(key) : name;
  },

  // The setting an issue's key path names: "cameras[1].zones[0].actions.door_hold" (the
  // node's checks) or "body.zones[0].grace_s" (a malformed request) -> "actions.door_hold".
  issueField(path) {
    const m = /zones\[\d+\]\.([A-Za-z_.]+)/.exec(path || "");
    return m ? m[1] : "";
  },

  // A validation issue ({path, message, type, ctx}, docs/api.md) in the page's language,
  // naming the field: pydantic's error type and limits say what is wrong; the node's own
  // checks (no type) are recognised by their words; anything else keeps the node's text.
  issueMessage(issue) {
    const type = issue.type || "";
    const ctx = issue.ctx || {};
    // A zone-level issue (`cameras[1].zones[0]`) names no field; one elsewhere in the config
    // keeps its whole path.
    const path = issue.path || "";
    const field = GS.issueField(path) || (/zones\[\d+\]$/.test(path) ? "" : path.replace(/^body\./, ""));
    const message = issue.message || issue.msg || "";
    const simple = {
      greater_than_equal: "val.greater_than_equal", greater_than: "val.greater_than",
      less_than_equal: "val.less_than_equal", less_than: "val.less_than",
      float_parsing: "val.number", float_type: "val.number", finite_number: "val.number",
      int_parsing: "val.integer", int_type: "val.integer", int_from_float: "val.integer",
      string_too_long: "val.string_too_long", string_too_short: "val.string_too_short",
      too_short: "val.too_short", too_long: "val.too_long", missing: "val.missing",
      enum: "val.enum", literal_error: "val.enum", extra_forbidden: "val.extra_forbidden",
    };
    let key = simple[type];
    if (type === "string_pattern_mismatch") key = field === "id" ? "val.id.pattern" : "val.pattern";
    else if (!key && /max_gap_s/.test(message)) key = "val.max_gap";
    else if (!key && /^duplicate/.test(message)) key = "val.duplicate";
    else if (!key && field === "categories" && /empty/.test(message)) key = "val.categories_empty";
    else if (!key && field === "polygon") key = "val.polygon";
    const text = key ? GS.t(key, ctx) : message;
    return field ? GS.t("val.field", { field: GS.fieldLabel(field), message: text }) : text;
  },

  el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name in node && typeof value !== "string") node[name] = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  },

  formatTime(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    const pad = (n) => String(n).padStart(2, "0");
    const today = new Date();
    const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    if (d.toDateString() === today.toDateString()) return time;
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
  },

  formatDuration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const rest = s % 60;
    if (h) return `${h}${GS.t("unit.h")}${String(m).padStart(2, "0")}${GS.t("unit.m")}`;
    if (m) return `${m}${GS.t("unit.m")}${String(rest).padStart(2, "0")}${GS.t("unit.s")}`;
    return `${rest}${GS.t("unit.s")}`;
  },

  // The header controls both pages share: token field and language switch.
  initHeader() {
    const token = document.getElementById("token");
    token.value = GS.token();
    token.addEventListener("input", () => sessionStorage.setItem("gs.token", token.value.trim()));
    token.addEventListener("change", () => {
      for (const fn of GS.onToken) fn();
    });
    document.getElementById("lang").addEventListener("click", () => {
      GS.setLanguage(GS.lang === "zh" ? "en" : "zh");
    });
    GS.translate();
  },
  onToken: [],
};
