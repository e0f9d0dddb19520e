// Shared by the console's pages: translations (Simplified Chinese first, English second), the
// session's CSRF header, fetch helpers, case words and colours. Plain JS, no build step,
// nothing fetched from the internet.
"use strict";

const I18N = {
  zh: {
    "lang.switch": "English",
    "brand": "网格哨兵 · 指挥平台",
    "login.title": "登录",
    "login.username": "用户名",
    "login.password": "密码",
    "login.submit": "登录",
    "login.busy": "登录中…",
    "logout": "退出",
    "nav.inbox": "监控中心",
    "nav.patrol": "我的任务",
    "err.400": "请求有误",
    "err.401": "用户名或密码错误，或登录已过期",
    "err.403": "无权执行此操作",
    "err.404": "没有找到，或不在您的网格",
    "err.409": "案件状态已变化，无法执行此操作，请刷新",
    "err.413": "文件太大",
    "err.422": "填写有误",
    "err.429": "登录失败次数过多，请稍后再试",
    "err.500": "服务器出错",
    "err.network": "无法连接平台",
    "err.needNote": "请填写说明",
    "err.needPerson": "请选择派遣人员",
    "err.needDue": "请选择挂账到期日期",
    "live.ok": "实时刷新中",
    "live.lost": "连接中断，重试中…",
    "updated": "更新于",
    "colour.red": "红",
    "colour.yellow": "黄",
    "colour.green": "绿",
    "state.reported": "信息采集",
    "state.registered": "已立案",
    "state.dispatched": "已派遣",
    "state.accepted": "已接单",
    "state.on_site": "已到场",
    "state.handled": "已处置",
    "state.closed": "已结案",
    "state.false_alarm": "误报",
    "state.returned": "已退回",
    "state.deferred": "挂账",
    "kind.illegal_parking": "违章停车",
    "kind.fire_lane_blocked": "消防通道占用",
    "kind.ebike_in_lift": "电动车进电梯",
    "kind.camera_offline": "摄像头离线",
    "kind.smoke": "烟雾报警",
    "kind.gas": "燃气泄漏",
    "kind.co": "一氧化碳超标",
    "kind.sensor_offline": "传感器离线",
    "kind.sensor_fault": "传感器故障",
    "kind.sensor_tamper": "传感器被拆动",
    "kind.sensor_low_battery": "传感器电量低",
    "kind.storage_fault": "节点存储故障",
    "kind.node_offline": "节点离线",
    "sev.info": "提示",
    "sev.warning": "一般",
    "sev.major": "重要",
    "sev.critical": "紧急",
    "action.register": "立案",
    "action.dispatch": "派遣",
    "action.accept": "接单",
    "action.arrive": "已到场",
    "action.handle": "处置完成",
    "action.close": "核查结案",
    "action.false_alarm": "误报",
    "action.return": "退回",
    "action.defer": "挂账",
    "action.reopen": "重新打开",
    "action.alert_raised": "告警触发",
    "action.alert_updated": "告警更新",
    "action.alert_cleared": "现场已恢复",
    "action.alert_escalated": "告警升级",
    "action.alert_acknowledged": "节点确认",
    "action.alert_released": "节点解除",
    "action.alert_resolved": "节点处置",
    "action.alert_joined": "同一告警再次触发",
    "action.problem_gone": "现场已恢复",
    "action.offline_again": "再次离线",
    "action.open": "案件生成",
    "action.overdue": "超期",
    "action.supervise": "督办",
    "action.notified": "已通知",
    "action.notify_failed": "通知失败",
    "action.notify_due": "待通知",
    "action.dispatch_none": "无人可派",
    "action.undefer": "挂账到期",
    "action.photo": "上传照片",
    "action.done": "已执行：",
    "case": "案件",
    "case.grid": "网格",
    "case.place": "位置",
    "case.source": "来源",
    "case.opened": "上报时间",
    "case.due": "响应期限",
    "case.handleDue": "处置期限",
    "case.assignees": "派遣给",
    "case.overdue": "已超期",
    "case.gone": "现场已恢复",
    "case.escalated": "督办",
    "case.none": "暂无案件",
    "case.back": "返回列表",
    "case.snapshot": "现场截图",
    "case.noSnapshot": "没有截图",
    "case.photos": "处置照片",
    "case.timeline": "处理过程",
    "case.note": "说明",
    "case.notePlaceholder": "处置说明或原因",
    "case.by": "操作人",
    "case.pick": "选择派遣人员",
    "case.deferUntil": "挂账至",
    "case.map": "打开地图导航",
    "case.noMap": "无坐标，请按位置描述前往",
    "case.deliveries": "通知记录",
    "case.noDeliveries": "暂无通知",
    "case.clip": "视频片段",
    "clip.loading": "正在从节点获取视频…",
    "clip.none": "这条告警没有视频片段",
    "clip.not_found": "节点上没有这段视频（尚未生成，或已被清理）",
    "clip.refused": "节点拒绝访问，请检查控制台的节点令牌",
    "clip.http_error": "节点返回错误",
    "clip.unreachable": "无法连接节点",
    "clip.timeout": "节点响应超时",
    "clip.too_big": "视频过大，未保存",
    "clip.bad_url": "节点没有提供可访问的地址（需在节点上设置对外地址）",
    "clip.not_mp4": "节点返回的不是 MP4 视频",
    "clip.failed": "视频无法获取",
    "clip.retry": "重新打开案件可再试，最早于",
    "clip.download": "下载视频",
    "clip.unplayable": "此浏览器无法播放这段视频（可能是 H.265 编码），请下载后用播放器打开",
    "action.clip_fetched": "已获取视频片段",
    "action.clip_failed": "视频片段获取失败",
    "delivery.person": "人员",
    "delivery.channel": "渠道",
    "delivery.state": "状态",
    "delivery.attempts": "尝试次数",
    "delivery.sentAt": "送达时间",
    "delivery.error": "最近错误",
    "delivery.tryOk": "成功",
    "delivery.tryFailed": "失败",
    "delivery.pending": "待发送",
    "delivery.sent": "已送达",
    "delivery.failed": "发送失败",
    "filter.grid": "网格",
    "filter.kind": "类型",
    "filter.colour": "颜色",
    "filter.state": "状态",
    "filter.time": "时间",
    "filter.all": "全部",
    "time.1h": "1 小时内",
    "time.24h": "24 小时内",
    "time.7d": "7 天内",
    "inbox.title": "案件收件箱",
    "inbox.count": "条",
    "health.title": "节点与设备",
    "health.none": "尚无节点上报",
    "health.online": "在线",
    "health.offline": "离线",
    "health.degraded": "降级",
    "health.camera": "摄像头",
    "health.sensor": "传感器",
    "cat.vehicle": "机动车",
    "cat.two_wheeler": "两轮车",
    "cat.person": "行人",
    "role.admin": "管理员",
    "role.operator": "监控中心",
    "role.grid_leader": "包网格领导",
    "role.grid_head": "网格长",
    "role.patrol": "网格员",
    "role.volunteer": "志愿者",
    "nav.admin": "管理",
    "nav.figures": "统计",
    "nav.duty": "值班",
    "yes": "是",
    "no": "否",
    "channel.wecom": "企业微信",
    "channel.dingtalk": "钉钉",
    "channel.feishu": "飞书",
    "channel.email": "邮件",
    "channel.webhook": "Webhook 回调",
    "admin.people": "人员与角色",
    "admin.username": "用户名",
    "admin.name": "姓名",
    "admin.role": "角色",
    "admin.grids": "网格",
    "admin.gridsHint": "多个网格用逗号分隔",
    "admin.phone": "电话",
    "admin.channels": "通知渠道",
    "admin.login": "可登录",
    "admin.add": "添加人员",
    "admin.addSubmit": "添加",
    "admin.added": "已添加",
    "admin.files": "导入与导出",
    "admin.filesHint": "CSV 或 XLSX，与命令行 grid-console grids|people|rosters import 的格式相同；文件有错时一行都不导入，并列出每个错误的行号。",
    "admin.table.grids": "网格",
    "admin.table.people": "人员及通知渠道",
    "admin.table.rosters": "值班表",
    "admin.exportCsv": "导出 CSV",
    "admin.exportXlsx": "导出 XLSX",
    "admin.import": "导入",
    "admin.imported": "已导入行数：",
    "admin.pickFile": "请先选择文件",
    "admin.row": "第",
    "admin.edit": "修改人员",
    "admin.active": "启用",
    "admin.inactive": "已停用",
    "admin.state": "状态",
    "admin.newPassword": "新密码",
    "admin.keepPassword": "留空则不改",
    "admin.channelsHint": "修改渠道时整组替换；已有的签名密钥不显示，改动渠道时请重新填写。",
    "admin.addChannel": "添加渠道",
    "admin.save": "保存",
    "admin.saved": "已保存",
    "admin.cancel": "取消",
    "admin.target": "机器人地址、邮箱或回调地址",
    "admin.secret": "签名密钥（可选）",
    "admin.secretKept": "已设密钥，请重新填写",
    "admin.remove": "删除",
    "admin.quarantine": "隔离区（拒收的消息）",
    "admin.quarantineHint": "节点发来的不合规消息不会进入案件，原样保存在这里，并计入 /metrics。",
    "quarantine.none": "没有被拒收的消息",
    "quarantine.total": "共计",
    "quarantine.at": "收到时间",
    "quarantine.reason": "原因",
    "quarantine.topic": "主题",
    "quarantine.size": "字节",
    "quarantine.detail": "说明",
    "quarantine.payload": "内容（开头）",
    "quarantine.not_json": "不是 JSON",
    "quarantine.schema": "不符合消息格式",
    "quarantine.oversized": "消息过大",
    "quarantine.topic_mismatch": "与主题不符",
    "quarantine.too_long": "字段过长",
    "quarantine.unexpected_topic": "未知主题",
    "quarantine.db_refused": "数据库拒绝",
    "quarantine.internal_error": "内部错误",
    "figures.from": "开始",
    "figures.to": "结束（不含）",
    "figures.show": "查看",
    "figures.total": "合计",
    "figures.asOf": "统计时点",
    "figures.minutes": "用时单位：分钟",
    "figures.reported": "上报数",
    "figures.registered": "立案数",
    "figures.closed": "结案数",
    "figures.false_alarms": "误报数",
    "figures.handled_on_time": "按期处置数",
    "figures.handled_late": "超期处置数",
    "figures.still_overdue": "超期未处置数",
    "figures.reworked": "返工数",
    "figures.accept_median_s": "接单用时中位数",
    "figures.accept_p90_s": "接单用时90分位",
    "figures.close_median_s": "结案用时中位数",
    "figures.close_p90_s": "结案用时90分位",
    "patrol.title": "我的任务",
    "patrol.none": "目前没有任务",
    "patrol.photo": "拍照上传",
    "patrol.photoDone": "照片已上传",
    "patrol.photoBusy": "上传中…",
    "patrol.newTask": "新任务",
  },
  en: {
    "lang.switch": "中文",
    "brand": "Grid Sentinel · Console",
    "login.title": "Sign in",
    "login.username": "User name",
    "login.password": "Password",
    "login.submit": "Sign in",
    "login.busy": "Signing in…",
    "logout": "Sign out",
    "nav.inbox": "Monitoring centre",
    "nav.patrol": "My tasks",
    "err.400": "Bad request",
    "err.401": "Wrong user name or password, or the session expired",
    "err.403": "You may not do this",
    "err.404": "Not found, or not in your grid",
    "err.409": "The case has changed and this action no longer applies; refresh",
    "err.413": "File too large",
    "err.422": "Something is wrong in the form",
    "err.429": "Too many failed logins; try again later",
    "err.500": "Server error",
    "err.network": "Cannot reach the console",
    "err.needNote": "Please write a note",
    "err.needPerson": "Choose whom to dispatch",
    "err.needDue": "Choose the date the case comes back",
    "live.ok": "Live",
    "live.lost": "Connection lost, retrying…",
    "updated": "Updated",
    "colour.red": "Red",
    "colour.yellow": "Yellow",
    "colour.green": "Green",
    "state.reported": "Reported",
    "state.registered": "Registered",
    "state.dispatched": "Dispatched",
    "state.accepted": "Accepted",
    "state.on_site": "On site",
    "state.handled": "Handled",
    "state.closed": "Closed",
    "state.false_alarm": "False alarm",
    "state.returned": "Returned",
    "state.deferred": "Deferred",
    "kind.illegal_parking": "Illegal parking",
    "kind.fire_lane_blocked": "Fire lane blocked",
    "kind.ebike_in_lift": "E-bike in lift",
    "kind.camera_offline": "Camera offline",
    "kind.smoke": "Smoke",
    "kind.gas": "Gas leak",
    "kind.co": "Carbon monoxide",
    "kind.sensor_offline": "Sensor offline",
    "kind.sensor_fault": "Sensor fault",
    "kind.sensor_tamper": "Sensor tampered with",
    "kind.sensor_low_battery": "Sensor battery low",
    "kind.storage_fault": "Node storage fault",
    "kind.node_offline": "Node offline",
    "sev.info": "Info",
    "sev.warning": "Warning",
    "sev.major": "Major",
    "sev.critical": "Critical",
    "action.register": "Register",
    "action.dispatch": "Dispatch",
    "action.accept": "Accept",
    "action.arrive": "Arrived",
    "action.handle": "Handled",
    "action.close": "Verify & close",
    "action.false_alarm": "False alarm",
    "action.return": "Return",
    "action.defer": "Defer",
    "action.reopen": "Reopen",
    "action.alert_raised": "Alert raised",
    "action.alert_updated": "Alert updated",
    "action.alert_cleared": "Problem gone",
    "action.alert_escalated": "Alert escalated",
    "action.alert_acknowledged": "Node acknowledged",
    "action.alert_released": "Node released",
    "action.alert_resolved": "Node resolved",
    "action.alert_joined": "Same alert raised again",
    "action.problem_gone": "Problem gone",
    "action.offline_again": "Offline again",
    "action.open": "Opened",
    "action.overdue": "Overdue",
    "action.supervise": "Escalated",
    "action.notified": "Notified",
    "action.notify_failed": "Notification failed",
    "action.notify_due": "Notification queued",
    "action.dispatch_none": "Nobody to dispatch",
    "action.undefer": "Deferral due",
    "action.photo": "Photo uploaded",
    "action.done": "Done: ",
    "case": "Case",
    "case.grid": "Grid",
    "case.place": "Place",
    "case.source": "Source",
    "case.opened": "Reported",
    "case.due": "Answer by",
    "case.handleDue": "Handle by",
    "case.assignees": "Dispatched to",
    "case.overdue": "Overdue",
    "case.gone": "Problem gone",
    "case.escalated": "Escalated",
    "case.none": "No cases",
    "case.back": "Back to the list",
    "case.snapshot": "Snapshot",
    "case.noSnapshot": "No snapshot",
    "case.photos": "Photos",
    "case.timeline": "Timeline",
    "case.note": "Note",
    "case.notePlaceholder": "What was done, or why",
    "case.by": "By",
    "case.pick": "Choose a person",
    "case.deferUntil": "Defer until",
    "case.map": "Open the map",
    "case.noMap": "No coordinates; go by the place",
    "case.deliveries": "Notifications",
    "case.noDeliveries": "No notifications",
    "case.clip": "Video clip",
    "clip.loading": "Fetching the clip from the node…",
    "clip.none": "This alert has no clip",
    "clip.not_found": "The node has no clip for this alert (not written yet, or pruned)",
    "clip.refused": "The node refused: check the console's node token",
    "clip.http_error": "The node answered with an error",
    "clip.unreachable": "The node cannot be reached",
    "clip.timeout": "The node did not answer in time",
    "clip.too_big": "The clip is too big to keep",
    "clip.bad_url": "The node gave no address to fetch it from (set its public URL)",
    "clip.not_mp4": "The node sent something that is not an MP4 video",
    "clip.failed": "The clip could not be fetched",
    "clip.retry": "Open the case again to retry, from",
    "clip.download": "Download the clip",
    "clip.unplayable": "This browser cannot play the clip (it may be H.265): download it and open it in a player",
    "action.clip_fetched": "Clip fetched",
    "action.clip_failed": "Clip fetch failed",
    "delivery.person": "Person",
    "delivery.channel": "Channel",
    "delivery.state": "State",
    "delivery.attempts": "Attempts",
    "delivery.sentAt": "Sent at",
    "delivery.error": "Last error",
    "delivery.tryOk": "worked",
    "delivery.tryFailed": "failed",
    "delivery.pending": "Waiting",
    "delivery.sent": "Delivered",
    "delivery.failed": "Failed",
    "filter.grid": "Grid",
    "filter.kind": "Kind",
    "filter.colour": "Colour",
    "filter.state": "State",
    "filter.time": "Time",
    "filter.all": "All",
    "time.1h": "Last hour",
    "time.24h": "Last 24 h",
    "time.7d": "Last 7 days",
    "inbox.title": "Case inbox",
    "inbox.count": "cases",
    "health.title": "Nodes and devices",
    "health.none": "No node has reported yet",
    "health.online": "Online",
    "health.offline": "Offline",
    "health.degraded": "Degraded",
    "health.camera": "Camera",
    "health.sensor": "Sensor",
    "cat.vehicle": "Vehicle",
    "cat.two_wheeler": "Two-wheeler",
    "cat.person": "Person",
    "role.admin": "Admin",
    "role.operator": "Operator",
    "role.grid_leader": "Grid leader",
    "role.grid_head": "Grid head",
    "role.patrol": "Patrol",
    "role.volunteer": "Volunteer",
    "nav.admin": "Admin",
    "nav.figures": "Figures",
    "nav.duty": "Duty",
    "yes": "Yes",
    "no": "No",
    "channel.wecom": "WeCom",
    "channel.dingtalk": "DingTalk",
    "channel.feishu": "Feishu",
    "channel.email": "E-mail",
    "channel.webhook": "Webhook",
    "admin.people": "People and roles",
    "admin.username": "User name",
    "admin.name": "Name",
    "admin.role": "Role",
    "admin.grids": "Grids",
    "admin.gridsHint": "Grids, separated by commas",
    "admin.phone": "Phone",
    "admin.channels": "Notification channels",
    "admin.login": "Can sign in",
    "admin.add": "Add a person",
    "admin.addSubmit": "Add",
    "admin.added": "Added",
    "admin.files": "Import and export",
    "admin.filesHint": "CSV or XLSX, the format of grid-console grids|people|rosters import; a file with errors imports nothing and lists every error with its row.",
    "admin.table.grids": "Grids",
    "admin.table.people": "People and their channels",
    "admin.table.rosters": "Duty rosters",
    "admin.exportCsv": "Export CSV",
    "admin.exportXlsx": "Export XLSX",
    "admin.import": "Import",
    "admin.imported": "Rows imported:",
    "admin.pickFile": "Choose a file first",
    "admin.row": "Row",
    "admin.edit": "Edit person",
    "admin.active": "Active",
    "admin.inactive": "Inactive",
    "admin.state": "State",
    "admin.newPassword": "New password",
    "admin.keepPassword": "leave empty to keep",
    "admin.channelsHint": "Channels are replaced as a whole; stored signing secrets are not shown, so enter them again when you change the channels.",
    "admin.addChannel": "Add a channel",
    "admin.save": "Save",
    "admin.saved": "Saved",
    "admin.cancel": "Cancel",
    "admin.target": "Robot URL, e-mail address or webhook URL",
    "admin.secret": "Signing secret (optional)",
    "admin.secretKept": "A secret is set: enter it again",
    "admin.remove": "Remove",
    "admin.quarantine": "Quarantine (refused messages)",
    "admin.quarantineHint": "Messages from nodes that break the contract never become cases; they are kept here as received and counted in /metrics.",
    "quarantine.none": "No refused messages",
    "quarantine.total": "Total",
    "quarantine.at": "Received",
    "quarantine.reason": "Reason",
    "quarantine.topic": "Topic",
    "quarantine.size": "Bytes",
    "quarantine.detail": "Detail",
    "quarantine.payload": "Payload (start)",
    "quarantine.not_json": "Not JSON",
    "quarantine.schema": "Fails the schema",
    "quarantine.oversized": "Too large",
    "quarantine.topic_mismatch": "Does not match its topic",
    "quarantine.too_long": "A field too long",
    "quarantine.unexpected_topic": "Unknown topic",
    "quarantine.db_refused": "Refused by the database",
    "quarantine.internal_error": "Internal error",
    "figures.from": "From",
    "figures.to": "To (exclusive)",
    "figures.show": "Show",
    "figures.total": "Total",
    "figures.asOf": "As of",
    "figures.minutes": "times in minutes",
    "figures.reported": "Reported",
    "figures.registered": "Registered",
    "figures.closed": "Closed",
    "figures.false_alarms": "False alarms",
    "figures.handled_on_time": "Handled on time",
    "figures.handled_late": "Handled late",
    "figures.still_overdue": "Still overdue",
    "figures.reworked": "Reworked",
    "figures.accept_median_s": "Time to accept, median",
    "figures.accept_p90_s": "Time to accept, 90th pct.",
    "figures.close_median_s": "Time to close, median",
    "figures.close_p90_s": "Time to close, 90th pct.",
    "patrol.title": "My tasks",
    "patrol.none": "No tasks right now",
    "patrol.photo": "Take a photo",
    "patrol.photoDone": "Photo uploaded",
    "patrol.photoBusy": "Uploading…",
    "patrol.newTask": "New task",
  },
};

const CONSOLE = {
  lang: (localStorage.getItem("gc.lang") === "en") ? "en" : "zh",
};

function t(key, fallback) {
  const table = I18N[CONSOLE.lang];
  if (key in table) return table[key];
  // A code the table does not know (the contract may add kinds): show the code itself.
  return fallback !== undefined ? fallback : key;
}

// Words for codes that come from the server: an unknown code is shown as it is.
function word(prefix, code) {
  if (code === null || code === undefined || code === "") return "";
  return t(prefix + "." + code, String(code));
}

function applyI18n(root) {
  const scope = root || document;
  scope.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  scope.querySelectorAll("[data-i18n-placeholder]").forEach((el) => {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  });
  document.documentElement.lang = CONSOLE.lang === "zh" ? "zh-CN" : "en";
}

function setupLanguage(onChange) {
  const button = document.getElementById("lang");
  if (!button) return;
  button.addEventListener("click", () => {
    CONSOLE.lang = CONSOLE.lang === "zh" ? "en" : "zh";
    localStorage.setItem("gc.lang", CONSOLE.lang);
    applyI18n();
    if (onChange) onChange();
  });
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    // Text from the server is always text, never markup.
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

class ApiError extends Error {
  constructor(status, detail) {
    super(`HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

// The server's messages are "中文 / English" where it gives both: show the reader's half.
function serverText(detail) {
  if (detail === null || detail === undefined) return "";
  if (typeof detail !== "string") {
    if (Array.isArray(detail)) {
      return detail.map((d) => (d.loc || []).slice(1).join(".") + ": " + (d.msg || "")).join("; ");
    }
    return detail.message ? serverText(detail.message) : JSON.stringify(detail);
  }
  const halves = detail.split(" / ");
  if (halves.length === 2 && /[\u4e00-\u9fff]/.test(halves[0])) {
    return CONSOLE.lang === "zh" ? halves[0] : halves[1];
  }
  return detail;
}

function errorText(error) {
  if (!(error instanceof ApiError)) return t("err.network");
  const known = "err." + error.status;
  const head = t(known, t("err.500"));
  // Not found and not signed in say all there is; the server's "no case 7" would only add
  // English to a Chinese page.
  if (error.status === 404 || error.status === 401) return head;
  const extra = serverText(error.detail);
  return extra ? `${head}（${extra}）` : head;
}

// A name with its code beside it ("李巡（lipatrol）"), or the code alone when they are the same.
function named(code, name) {
  if (!name || name === code) return code;
  return CONSOLE.lang === "zh" ? `${name}（${code}）` : `${name} (${code})`;
}

// A change refused for one field (`{"field", "problem": {"zh", "en"}}`): the field marked on
// the form and named in the page's words (`<prefix>.<field>`); anything else as errorText says.
function fieldError(error, form, prefix) {
  form.querySelectorAll("[aria-invalid]").forEach((input) => input.removeAttribute("aria-invalid"));
  const d = error instanceof ApiError ? error.detail : null;
  if (!(d && d.field && d.problem)) return errorText(error);
  const input = form.elements[d.field];
  if (input && input.setAttribute) input.setAttribute("aria-invalid", "true");
  const field = t(`${prefix}.${d.field}`, d.field), problem = d.problem[CONSOLE.lang] || d.problem.en;
  return CONSOLE.lang === "zh" ? `${t("err.422")}（${field}：${problem}）` : `${t("err.422")} (${field}: ${problem})`;
}

// A refused file's problems (`{"errors": [{"row", "column", "message"}]}`) as a list; each
// message is "中文 / English" and the reader's half is shown.
function problems(error) {
  const list = error instanceof ApiError && error.detail && error.detail.errors;
  if (!Array.isArray(list)) return null;
  return el("ul", { class: "problems" }, list.map((p) => el("li", {},
    `${t("admin.row")} ${p.row}` + (p.column && p.column !== "-" ? ` · ${p.column}` : "") +
    ` · ${serverText(p.message)}`)));
}

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (method !== "GET") headers["X-CSRF-Token"] = cookie("gc_csrf");
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let reply;
  try {
    reply = await fetch(path, init);
  } catch (_) {
    throw new Error("network");
  }
  if (reply.status === 401 && path !== "/api/login") {
    location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
    throw new ApiError(401, null);
  }
  const data = await reply.json().catch(() => null);
  if (!reply.ok) throw new ApiError(reply.status, data && data.detail);
  return data;
}

async function logout() {
  try { await api("POST", "/api/logout"); } catch (_) { /* gone already */ }
  location.href = "/login";
}

function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getMonth() + 1}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function colourMark(colour) {
  return el("span", { class: "mark " + colour, "data-colour": colour }, t("colour." + colour));
}

function placeOf(c) {
  const parts = [c.location];
  if (!c.location && c.building) parts.push(c.building);
  return parts.filter(Boolean).join(" ") || "—";
}

function sourceOf(c) {
  return [c.site, c.node, c.camera || c.sensor].filter(Boolean).join(" / ");
}

// Live refresh by polling: plain HTTP that works through every proxy and on a phone that
// sleeps; the interval is short enough for a 5-minute answer deadline.
function poll(fn, everyMs, statusEl) {
  let timer = null;
  const run = async () => {
    try {
      await fn();
      if (statusEl) {
        statusEl.textContent = `${t("live.ok")} · ${t("updated")} ${new Date().toLocaleTimeString()}`;
        statusEl.classList.remove("bad");
      }
    } catch (error) {
      if (statusEl) {
        statusEl.textContent = t("live.lost");
        statusEl.classList.add("bad");
      }
    }
    timer = setTimeout(run, everyMs);
  };
  run();
  return { now: () => { clearTimeout(timer); run(); } };
}
