// The F6 map in the browser: every test digit as a dot coloured by its class, on a canvas.
// Pointing at a dot shows that digit's picture (cut from one sheet of all 10,000, loaded once
// and kept by the browser), a click sends the digit's index to the page, the class chips fade
// the other classes, and the page's own digit is a star that glides to its new place when the
// digit changes. Everything here draws what the server computed; nothing is invented.

const COLORS = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
  "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#79706e",
];
const PAD = 14; // px around the points
const HIT_PX = 7; // how near the pointer must come to a dot

function decode(data) {
  const raw = atob(data.points);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  const xy = new Uint16Array(bytes.buffer);
  const cls = Uint8Array.from(atob(data.classes), (c) => c.charCodeAt(0));
  return { xy, cls, n: data.n };
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector(".f6-root");
  const canvas = root.querySelector("canvas");
  const tip = root.querySelector(".f6-tip");
  const chips = root.querySelector(".f6-chips");
  const state = root.__f6 || (root.__f6 = { focus: null, marker: null, shown: null });
  state.data = data;
  if (state.key !== data.key) {
    state.key = data.key;
    state.pts = decode(data);
  }
  if (!state.sheet || state.sheetUrl !== data.sheet) {
    state.sheetUrl = data.sheet;
    state.sheet = new Image();
    state.sheet.onload = () => root.dispatchEvent(new Event("f6-redraw"));
    state.sheet.src = data.sheet;
  }

  const height = data.height || 520;
  function layout() {
    const width = Math.max(320, root.clientWidth);
    const dpr = window.devicePixelRatio || 1;
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    const side = Math.min(width, height) - 2 * PAD; // one unit is as long across as up
    state.view = {
      width, height, dpr, side,
      x0: (width - side) / 2, y0: (height - side) / 2,
    };
  }
  const toPx = (u, v) => [state.view.x0 + u * state.view.side,
                          state.view.y0 + (1 - v) * state.view.side];

  function draw() {
    const { xy, cls, n } = state.pts;
    const ctx = canvas.getContext("2d");
    const { dpr, width } = state.view;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const order = [];
    for (let c = 0; c < 10; c++) order.push(c);
    if (state.focus !== null) order.push(order.splice(state.focus, 1)[0]); // on top
    for (const c of order) {
      ctx.globalAlpha = state.focus === null || state.focus === c ? 0.8 : 0.08;
      ctx.fillStyle = COLORS[c];
      for (let i = 0; i < n; i++) {
        if ((cls[i] & 15) !== c) continue;
        const [x, y] = toPx(xy[2 * i] / 65535, xy[2 * i + 1] / 65535);
        ctx.fillRect(x - 1.5, y - 1.5, 3, 3);
      }
    }
    ctx.globalAlpha = 1;
    if (data.selected !== null && data.selected !== undefined && data.selected < n) {
      const i = data.selected;
      const [x, y] = toPx(xy[2 * i] / 65535, xy[2 * i + 1] / 65535);
      ring(ctx, x, y, 7, "#1f2933");
    }
    if (state.shown) star(ctx, ...toPx(state.shown[0], state.shown[1]));
    root.dataset.painted = String(n);
  }

  function ring(ctx, x, y, r, color) {
    ctx.beginPath();
    ctx.arc(x, y, r, 0, 2 * Math.PI);
    ctx.lineWidth = 2;
    ctx.strokeStyle = color;
    ctx.stroke();
  }

  function star(ctx, x, y) {
    const { side, x0, y0 } = state.view; // a marker outside the points stays at the edge
    x = Math.min(Math.max(x, x0 - PAD + 10), x0 + side + PAD - 10);
    y = Math.min(Math.max(y, y0 - PAD + 10), y0 + side + PAD - 10);
    ctx.beginPath();
    for (let k = 0; k < 10; k++) {
      const r = k % 2 ? 5 : 12;
      const a = -Math.PI / 2 + (k * Math.PI) / 5;
      ctx.lineTo(x + r * Math.cos(a), y + r * Math.sin(a));
    }
    ctx.closePath();
    ctx.fillStyle = "#111827";
    ctx.strokeStyle = "#ffffff";
    ctx.lineWidth = 2;
    ctx.fill();
    ctx.stroke();
  }

  function nearest(px, py) {
    const { xy, cls, n } = state.pts;
    let best = -1;
    let bestD = HIT_PX * HIT_PX;
    for (let i = 0; i < n; i++) {
      if (state.focus !== null && (cls[i] & 15) !== state.focus) continue;
      const [x, y] = toPx(xy[2 * i] / 65535, xy[2 * i + 1] / 65535);
      const d = (x - px) ** 2 + (y - py) ** 2;
      if (d < bestD) { bestD = d; best = i; }
    }
    return best;
  }

  function showTip(i, px, py) {
    if (i < 0) { tip.style.display = "none"; return; }
    const c = state.pts.cls[i];
    const label = c & 15;
    const pred = c >> 4;
    const thumb = tip.querySelector("canvas");
    const g = thumb.getContext("2d");
    g.imageSmoothingEnabled = false;
    g.fillStyle = "#000";
    g.fillRect(0, 0, thumb.width, thumb.height);
    if (state.sheet.complete && state.sheet.naturalWidth) {
      const cols = data.columns;
      g.drawImage(state.sheet, (i % cols) * 28, Math.floor(i / cols) * 28, 28, 28,
                  0, 0, thumb.width, thumb.height);
    }
    const verdict = pred === 15 ? "" : pred === label ? ` · read as ${pred} ✓`
                                                    : ` · read as ${pred} ✗`;
    tip.querySelector(".f6-tip-text").textContent = `test image #${i} · class ${label}${verdict}`;
    tip.style.display = "block";
    const left = Math.min(px + 14, state.view.width - 190);
    tip.style.left = left + "px";
    tip.style.top = Math.max(py - 90, 0) + "px";
    root.dataset.hovered = String(i);
  }

  function buildChips() {
    chips.replaceChildren();
    for (let c = 0; c < 10; c++) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "f6-chip" + (state.focus === c ? " on" : "");
      b.style.setProperty("--c", COLORS[c]);
      b.textContent = String(c);
      b.title = state.focus === c ? "show every class" : `only class ${c} in colour`;
      b.onclick = () => {
        state.focus = state.focus === c ? null : c;
        buildChips();
        draw();
      };
      chips.appendChild(b);
    }
  }

  layout();
  buildChips();
  // The star glides from where it was to its new place, so a stroke's effect is seen moving.
  const target = data.marker;
  const from = state.marker;
  state.marker = target;
  cancelAnimationFrame(state.frame);
  if (target && from && (from[0] !== target[0] || from[1] !== target[1])) {
    const t0 = performance.now();
    const step = (now) => {
      const t = Math.min(1, (now - t0) / 450);
      const e = 1 - (1 - t) ** 3;
      state.shown = [from[0] + (target[0] - from[0]) * e, from[1] + (target[1] - from[1]) * e];
      draw();
      if (t < 1) state.frame = requestAnimationFrame(step);
    };
    state.frame = requestAnimationFrame(step);
  } else {
    state.shown = target;
  }
  if (target) {
    root.dataset.markerX = target[0].toFixed(4);
    root.dataset.markerY = target[1].toFixed(4);
  } else {
    delete root.dataset.markerX;
    delete root.dataset.markerY;
  }
  draw();

  const onMove = (e) => {
    const r = canvas.getBoundingClientRect();
    const px = e.clientX - r.left;
    const py = e.clientY - r.top;
    const i = nearest(px, py);
    canvas.style.cursor = i >= 0 ? "pointer" : "default";
    showTip(i, px, py);
  };
  const onLeave = () => { tip.style.display = "none"; };
  const onClick = (e) => {
    const r = canvas.getBoundingClientRect();
    const i = nearest(e.clientX - r.left, e.clientY - r.top);
    if (i >= 0) setTriggerValue("picked", i);
  };
  const onRedraw = () => draw();
  const resize = new ResizeObserver(() => { layout(); draw(); });
  resize.observe(root);
  canvas.addEventListener("mousemove", onMove);
  canvas.addEventListener("mouseleave", onLeave);
  canvas.addEventListener("click", onClick);
  root.addEventListener("f6-redraw", onRedraw);
  return () => {
    resize.disconnect();
    canvas.removeEventListener("mousemove", onMove);
    canvas.removeEventListener("mouseleave", onLeave);
    canvas.removeEventListener("click", onClick);
    root.removeEventListener("f6-redraw", onRedraw);
  };
}
