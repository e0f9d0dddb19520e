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
    "err.403": "节点未配置令牌，写操作已禁用",
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
    "sound.off": "声音：关",
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
    "err.403": "No token configured on the node: changes are disabled",
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
    "sound.off": "Sound: off",
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
  },
};

const GS = {
  lang: localStorage.getItem("gs.lang") === "en" ? "en" : "zh",
  onLanguage: [],

  t(key, vars) {
    let text = I18N[GS.lang][key] ?? I18N.zh[key] ?? key;
    for (const [name, value] of Object.entries(vars || {})) {
      text = text.replace(`{${name}}`, value);
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
