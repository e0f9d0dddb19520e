// The polygon editor laid over the camera picture: an SVG in pixels of the shown picture,
// zones kept in normalised coordinates (0..1, x right, y down) like the config.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const KIND_COLOURS = { fire_lane: "#e5484d", no_parking: "#f5a524", lift: "#8e4ec6" };

class ZoneEditor {
  // zones: [{data: {...every key of the zone but polygon}, points: [[x, y]], closed: bool}]
  constructor(svg, onChange) {
    this.svg = svg;
    this.onChange = onChange;
    this.zones = [];
    this.selected = -1;
    this.selectedPoint = -1;
    this.drag = null;
    this.detections = []; // [{box: [x1, y1, x2, y2], class, category, confidence}], normalised
    this.floor = 0;
    svg.addEventListener("pointerdown", (e) => this.pointerDown(e));
    svg.addEventListener("pointermove", (e) => this.pointerMove(e));
    svg.addEventListener("pointerup", (e) => this.pointerUp(e));
    svg.addEventListener("contextmenu", (e) => e.preventDefault());
    new ResizeObserver(() => this.render()).observe(svg);
  }

  setZones(zones) {
    this.zones = zones;
    this.selected = zones.length ? 0 : -1;
    this.selectedPoint = -1;
    this.changed();
  }

  // The model's latest detections, drawn under the zones (they never take a click).
  // `floor`: detections below it (the selected zone's min_confidence) are drawn faint and
  // unlabelled: they are seen but do not count.
  setDetections(detections, floor = 0) {
    this.detections = detections;
    this.floor = floor;
    this.render();
  }

  get current() {
    return this.zones[this.selected] || null;
  }

  select(index) {
    this.selected = index;
    this.selectedPoint = -1;
    this.changed();
  }

  addZone(zone) {
    this.zones.push(zone);
    this.select(this.zones.length - 1);
  }

  deleteZone() {
    if (!this.current) return;
    this.zones.splice(this.selected, 1);
    this.select(Math.min(this.selected, this.zones.length - 1));
  }

  closeZone() {
    const zone = this.current;
    if (zone && !zone.closed && zone.points.length >= 3) {
      zone.closed = true;
      this.selectedPoint = -1;
      this.changed();
    }
  }

  deletePoint(index = this.selectedPoint) {
    const zone = this.current;
    if (!zone || index < 0 || index >= zone.points.length) return;
    zone.points.splice(index, 1);
    if (zone.points.length < 3) zone.closed = false;
    this.selectedPoint = -1;
    this.changed();
  }

  changed() {
    this.render();
    this.onChange();
  }

  // Pointer position in normalised picture coordinates, clamped to the picture.
  norm(event) {
    const r = this.svg.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return [clamp((event.clientX - r.left) / r.width), clamp((event.clientY - r.top) / r.height)];
  }

  pointerDown(event) {
    const target = event.target.closest("[data-role]");
    const role = target && target.dataset.role;
    const zone = this.current;
    if (role === "vertex") {
      const index = Number(target.dataset.index);
      if (event.button === 2) return this.deletePoint(index);
      this.selectedPoint = index;
      this.drag = { index, moved: false, start: [event.clientX, event.clientY] };
      this.svg.setPointerCapture(event.pointerId);
      return this.render();
    }
    if (event.button !== 0) return;
    if (role === "midpoint") {
      const index = Number(target.dataset.index) + 1;
      zone.points.splice(index, 0, this.norm(event));
      this.selectedPoint = index;
      this.drag = { index, moved: true, start: [event.clientX, event.clientY] };
      this.svg.setPointerCapture(event.pointerId);
      return this.changed();
    }
    if (zone && !zone.closed) {
      zone.points.push(this.norm(event));
      this.selectedPoint = zone.points.length - 1;
      return this.changed();
    }
    if (role === "zone") return this.select(Number(target.dataset.index));
    this.selectedPoint = -1;
    this.render();
  }

  pointerMove(event) {
    if (!this.drag) return;
    const [x0, y0] = this.drag.start;
    if (Math.hypot(event.clientX - x0, event.clientY - y0) > 3) this.drag.moved = true;
    if (!this.drag.moved) return;
    this.current.points[this.drag.index] = this.norm(event);
    this.render();
  }

  pointerUp(event) {
    const drag = this.drag;
    this.drag = null;
    if (!drag) return;
    const zone = this.current;
    // A click (no drag) on the first corner of a zone being drawn closes it.
    if (!drag.moved && !zone.closed && drag.index === 0 && zone.points.length >= 3) {
      return this.closeZone();
    }
    if (drag.moved) this.changed();
  }

  key(event) {
    if (event.target.closest("input, select, textarea")) return;
    if ((event.key === "Delete" || event.key === "Backspace") && this.selectedPoint >= 0) {
      event.preventDefault();
      this.deletePoint();
    } else if (event.key === "Enter") {
      this.closeZone();
    }
  }

  render() {
    const { width, height } = this.svg.getBoundingClientRect();
    this.svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    this.svg.replaceChildren();
    const px = ([x, y]) => [x * width, y * height];
    this.detections.forEach((d) => this.detection(d, px));
    this.zones.forEach((zone, index) => {
      const colour = KIND_COLOURS[zone.data.kind] || "#3b82f6";
      const selected = index === this.selected;
      const points = zone.points.map((p) => px(p).join(",")).join(" ");
      const shape = this.make(zone.closed ? "polygon" : "polyline", {
        points,
        class: `zone${selected ? " selected" : ""}${zone.closed ? "" : " open"}`,
        stroke: colour,
        fill: zone.closed ? colour : "none",
        "data-role": "zone",
        "data-index": index,
      });
      this.svg.append(shape);
      if (zone.points.length) this.label(zone, px, colour);
      if (selected) this.handles(zone, px, colour);
    });
  }

  detection(d, px) {
    const [x1, y1] = px([d.box[0], d.box[1]]);
    const [x2, y2] = px([d.box[2], d.box[3]]);
    const weak = d.confidence < (this.floor || 0);
    const cls = `det det-${d.category}${weak ? " weak" : ""}`;
    this.svg.append(this.make("rect", { x: x1, y: y1, width: x2 - x1, height: y2 - y1, class: cls }));
    // On a phone-sized picture the labels would cover the scene: boxes only.
    if (weak || this.svg.getBoundingClientRect().width < 500) return;
    const text = this.make("text", { x: x1 + 2, y: Math.max(12, y1 - 3), class: "det-label" });
    text.textContent = `${GS.t(`cat.${d.category}`)} ${Number(d.confidence).toFixed(2)}`;
    this.svg.append(text);
  }

  label(zone, px, colour) {
    const n = zone.points.length;
    const [cx, cy] = px([
      zone.points.reduce((s, p) => s + p[0], 0) / n,
      zone.points.reduce((s, p) => s + p[1], 0) / n,
    ]);
    const text = this.make("text", { x: cx, y: cy, class: "zone-label", fill: colour });
    text.textContent = `${zone.data.name || zone.data.id || ""} · ${GS.t(`kind.${zone.data.kind}`)}`;
    this.svg.append(text);
  }

  handles(zone, px, colour) {
    if (zone.closed) {
      zone.points.forEach((p, i) => {
        const q = zone.points[(i + 1) % zone.points.length];
        const [x, y] = px([(p[0] + q[0]) / 2, (p[1] + q[1]) / 2]);
        this.svg.append(
          this.make("circle", { cx: x, cy: y, r: 5, class: "midpoint", "data-role": "midpoint", "data-index": i }),
        );
      });
    }
    zone.points.forEach((p, i) => {
      const [x, y] = px(p);
      const first = i === 0 && !zone.closed && zone.points.length >= 3;
      const cls = `vertex${i === this.selectedPoint ? " selected" : ""}${first ? " first" : ""}`;
      this.svg.append(
        this.make("circle", { cx: x, cy: y, r: first ? 10 : 7, class: cls, stroke: colour, "data-role": "vertex", "data-index": i }),
      );
    });
  }

  make(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return node;
  }
}
