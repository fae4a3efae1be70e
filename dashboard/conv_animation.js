// The convolution, animated: one C1 kernel's 5×5 window slides over the input while its map
// fills in (the Feature maps page's C1 tab). A Streamlit custom component (components v2):
// conv_animation.py sends every number once; this file only draws and plays them back, so a
// step never waits for the server.
//
// Streamlit calls the default export on mount and again whenever the data changes, with the
// same parent element, and calls only the last call's cleanup, when the component goes away.
// So what was built, the position and the timer live in `states`, keyed by the parent
// element, and every call stops the running timer before it starts anything.

// px per cell of the input, the map and the 5×5 grids: the largest that keeps the three panels
// side by side in the width there is (below the smallest they wrap, never scroll sideways)
const CELLS = [
  { input: 7, map: 8, grid: 30 },
  { input: 6, map: 7, grid: 27 },
  { input: 5, map: 6, grid: 24 },
];
const PAD = 3; // px around the input and the map, so the outline at an edge is whole
const GAPS = 56 + 60; // px between the panels, and of the × and = between the grids
const HIGHLIGHT = "#ea580c"; // the window and its cell: orange, apart from the red-blue scale
const BLANK = "#ebf0f8"; // a cell not computed yet: the figures' grid colour
const DARK_TEXT = "#1e293b";
const SPEEDS = [ // `step` positions every `ms` milliseconds; "row": a whole row at a time
  { label: "slow", ms: 600, step: 1, title: "one position every 0.6 s" },
  { label: "1×", ms: 30, step: 1, title: "one position per frame: the whole map in ~24 s" },
  { label: "4×", ms: 30, step: 4, title: "four positions per frame" },
  { label: "16×", ms: 30, step: 16, title: "sixteen positions per frame" },
  { label: "rows", ms: 250, step: "row", title: "a whole row per frame" },
];
const DEFAULT_SPEED = 1;

const TEMPLATE = `
<div class="conv" data-testid="conv-animation">
  <div class="controls">
    <button type="button" class="play primary" data-testid="conv-play">▶ Play</button>
    <button type="button" class="step" data-testid="conv-step">Step</button>
    <button type="button" class="reset" data-testid="conv-reset">Reset</button>
    <span class="speed" role="group" aria-label="Speed"><span class="label">Speed</span></span>
    <span class="position" data-testid="conv-position"></span>
  </div>
  <div class="panels">
    <section class="panel">
      <h4>Input · <span class="input-size"></span></h4>
      <canvas class="input" data-testid="conv-input"></canvas>
      <p class="note">The window: the pixels this position reads.</p>
    </section>
    <section class="panel middle">
      <h4>Window × kernel of <span class="map-name"></span> = products</h4>
      <div class="grids">
        <figure><canvas class="patch"></canvas><figcaption>window (input values)</figcaption></figure>
        <span class="op">×</span>
        <figure><canvas class="kernel"></canvas><figcaption>kernel (weights)</figcaption></figure>
        <span class="op">=</span>
        <figure><canvas class="products"></canvas><figcaption>products</figcaption></figure>
      </div>
      <p class="sum" data-testid="conv-sum"></p>
    </section>
    <section class="panel">
      <h4>C1 <span class="map-name"></span> · <span class="map-size"></span></h4>
      <canvas class="map" data-testid="conv-map"></canvas>
      <p class="note filled"></p>
    </section>
  </div>
</div>`;

const states = new WeakMap();

export default function (component) {
  const { data, parentElement } = component;
  let s = states.get(parentElement);
  if (!s) {
    s = build(parentElement);
    states.set(parentElement, s);
  }
  const resume = s.playing;
  stop(s);
  const fresh = !s.data || s.data.map !== data.map || s.data.pre.length !== data.pre.length;
  s.data = data;
  s.pos = fresh ? 0 : Math.min(s.pos, data.pre.length - 1);
  s.cell = fitting(s);
  prepare(s);
  draw(s);
  if (resume && !fresh) play(s);
  s.resizes.observe(s.root);
  return () => {
    stop(s);
    s.resizes.disconnect();
  };
}

function fitting(s) {
  const d = s.data;
  const width = s.root.clientWidth || Infinity; // 0 before the first layout: take the largest
  const needed = (c) =>
    d.input_side * c.input + d.cols * c.map + 4 * PAD + 3 * d.size * c.grid + GAPS;
  return CELLS.find((c) => needed(c) <= width) || CELLS[CELLS.length - 1];
}

function refit(s) {
  if (!s.data) return;
  const cell = fitting(s);
  if (cell === s.cell) return;
  s.cell = cell;
  prepare(s);
  draw(s);
}

// ------------------------------------------------------------------------------ the page part
function build(parent) {
  const holder = document.createElement("div");
  holder.innerHTML = TEMPLATE; // a constant: no data is ever written as HTML
  parent.appendChild(holder);
  const root = holder.querySelector(".conv");
  const find = (selector) => root.querySelector(selector);
  const s = {
    root,
    canvases: {
      input: find("canvas.input"),
      patch: find("canvas.patch"),
      kernel: find("canvas.kernel"),
      products: find("canvas.products"),
      map: find("canvas.map"),
    },
    playButton: find("button.play"),
    sum: find(".sum"),
    position: find(".position"),
    filled: find(".filled"),
    speed: DEFAULT_SPEED,
    speedButtons: [],
    playing: false,
    frame: null,
    last: null,
    pos: 0,
    data: null,
    cell: CELLS[0],
  };
  s.resizes = new ResizeObserver(() => refit(s));
  const group = find(".speed");
  SPEEDS.forEach((speed, i) => {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = speed.label;
    button.title = speed.title;
    button.dataset.testid = `conv-speed-${speed.label}`;
    button.addEventListener("click", () => {
      s.speed = i;
      s.last = null;
      markSpeed(s);
    });
    group.appendChild(button);
    s.speedButtons.push(button);
  });
  markSpeed(s);
  s.playButton.addEventListener("click", () => (s.playing ? stop(s) : play(s)));
  find("button.step").addEventListener("click", () => {
    stop(s);
    move(s, 1);
  });
  find("button.reset").addEventListener("click", () => {
    stop(s);
    s.pos = 0;
    draw(s);
  });
  return s;
}

function markSpeed(s) {
  s.speedButtons.forEach((b, i) => b.setAttribute("aria-pressed", String(i === s.speed)));
}

// ------------------------------------------------------------------------------ playing
function play(s) {
  if (s.pos >= last(s)) s.pos = 0; // Play at the end plays it again
  s.playing = true;
  s.last = null;
  s.playButton.textContent = "❚❚ Pause";
  draw(s);
  s.frame = requestAnimationFrame((now) => tick(s, now));
}

function stop(s) {
  if (s.frame !== null) cancelAnimationFrame(s.frame);
  s.frame = null;
  s.playing = false;
  s.playButton.textContent = s.data && s.pos >= last(s) ? "↻ Play again" : "▶ Play";
}

function tick(s, now) {
  const speed = SPEEDS[s.speed];
  if (s.last === null) s.last = now;
  const due = Math.floor((now - s.last) / speed.ms);
  if (due > 0) {
    s.last += due * speed.ms;
    const per = speed.step === "row" ? s.data.cols : speed.step;
    move(s, Math.min(due, 3) * per); // a tab that was hidden does not jump ahead
  }
  if (s.pos >= last(s)) {
    stop(s);
    return;
  }
  s.frame = requestAnimationFrame((t) => tick(s, t));
}

function last(s) {
  return s.data.pre.length - 1;
}

function move(s, steps) {
  s.pos = Math.min(s.pos + steps, last(s));
  if (s.pos >= last(s) && !s.playing) stop(s);
  draw(s);
}

// ------------------------------------------------------------------------------ colours
function colour(stops, t) {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0.5));
  let i = 0;
  while (i < stops.length - 2 && x > stops[i + 1][0]) i += 1;
  const [t0, r0, g0, b0] = stops[i];
  const [t1, r1, g1, b1] = stops[i + 1];
  const f = t1 > t0 ? (x - t0) / (t1 - t0) : 0;
  return [r0 + f * (r1 - r0), g0 + f * (g1 - g0), b0 + f * (b1 - b0)].map(Math.round);
}

const cssColour = ([r, g, b]) => `rgb(${r},${g},${b})`;
const textOn = ([r, g, b]) => (0.299 * r + 0.587 * g + 0.114 * b > 140 ? DARK_TEXT : "#ffffff");

function scaled(stops, lo, hi) {
  return (v) => colour(stops, hi > lo ? (v - lo) / (hi - lo) : 0.5);
}

// A number as the page prints it, without "-0.000".
function fmt(v, digits) {
  const text = v.toFixed(digits);
  return /^-0\.?0*$/.test(text) ? text.slice(1) : text;
}

// ------------------------------------------------------------------------------ drawing
function sized(canvas, width, height) {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.imageSmoothingEnabled = false;
  return ctx;
}

// Sizes, labels and every colour that does not depend on the position, once per data.
function prepare(s) {
  const d = s.data;
  const c = s.canvases;
  const side = d.input_side;
  for (const el of s.root.querySelectorAll(".map-name")) el.textContent = `map ${d.map}`;
  s.root.querySelector(".input-size").textContent = `${side}×${side}`;
  s.root.querySelector(".map-size").textContent = `${d.rows}×${d.cols}`;
  const grey = scaled(d.input_scale, d.input_range[0], d.input_range[1]);
  const peak = d.kernel_peak;
  s.colours = {
    input: d.input.map(grey),
    kernel: d.kernel.map(scaled(d.diverging, -peak, peak)),
    product: scaled(d.diverging, -d.products_peak, d.products_peak),
    map: d.post.map(scaled(d.map_scale, d.map_range[0], d.map_range[1])),
  };
  s.ctx = {
    input: sized(c.input, side * s.cell.input + 2 * PAD, side * s.cell.input + 2 * PAD),
    patch: sized(c.patch, d.size * s.cell.grid, d.size * s.cell.grid),
    kernel: sized(c.kernel, d.size * s.cell.grid, d.size * s.cell.grid),
    products: sized(c.products, d.size * s.cell.grid, d.size * s.cell.grid),
    map: sized(c.map, d.cols * s.cell.map + 2 * PAD, d.rows * s.cell.map + 2 * PAD),
  };
  s.font = fittingFont(s.ctx.patch, getComputedStyle(s.root).fontFamily, s.cell.grid - 6);
  // the input never changes while the window moves: drawn once, copied every frame
  const base = document.createElement("canvas");
  const ci = s.cell.input;
  const ctx = sized(base, side * ci, side * ci);
  s.colours.input.forEach((rgb, i) => {
    ctx.fillStyle = cssColour(rgb);
    ctx.fillRect((i % side) * ci, Math.floor(i / side) * ci, ci, ci);
  });
  s.inputImage = base;
  grid(s, s.ctx.kernel, d.kernel, s.colours.kernel);
}

// The largest font, up to 12 px, in which the widest number a grid shows fits `width`.
function fittingFont(ctx, family, width) {
  for (let px = 12; px > 8; px -= 0.5) {
    ctx.font = `${px}px ${family}`;
    if (ctx.measureText("-0.00").width <= width) return ctx.font;
  }
  return `8px ${family}`;
}

function grid(s, ctx, values, colours) {
  const n = s.data.size;
  const g = s.cell.grid;
  ctx.clearRect(0, 0, n * g, n * g);
  ctx.font = s.font;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  values.forEach((v, i) => {
    const x = (i % n) * g;
    const y = Math.floor(i / n) * g;
    ctx.fillStyle = cssColour(colours[i]);
    ctx.fillRect(x, y, g - 1, g - 1); // a 1 px gap keeps neighbouring numbers apart
    ctx.fillStyle = textOn(colours[i]);
    ctx.fillText(fmt(v, 2), x + g / 2, y + g / 2 + 0.5);
  });
  ctx.strokeStyle = "rgba(30, 41, 59, 0.25)";
  ctx.lineWidth = 1;
  ctx.strokeRect(0.5, 0.5, n * g - 1, n * g - 1);
}

function draw(s) {
  const d = s.data;
  const n = d.size;
  const side = d.input_side;
  const row = Math.floor(s.pos / d.cols);
  const col = s.pos % d.cols;

  // left: the input with the window outlined
  const input = s.ctx.input;
  const ci = s.cell.input;
  input.clearRect(0, 0, side * ci + 2 * PAD, side * ci + 2 * PAD);
  input.drawImage(s.inputImage, PAD, PAD, side * ci, side * ci);
  outline(input, PAD + col * ci, PAD + row * ci, n * ci, n * ci);

  // middle: the window's values, the kernel, their products and the sum written out
  const patch = [];
  for (let i = 0; i < n; i += 1) {
    for (let j = 0; j < n; j += 1) patch.push((row + i) * side + col + j);
  }
  const values = patch.map((k) => d.input[k]);
  grid(s, s.ctx.patch, values, patch.map((k) => s.colours.input[k]));
  const products = values.map((v, i) => v * d.kernel[i]);
  grid(s, s.ctx.products, products, products.map(s.colours.product));
  writeSum(s, row, col);

  // right: the map, filled up to this position, this position's cell outlined
  const map = s.ctx.map;
  const cm = s.cell.map;
  map.clearRect(0, 0, d.cols * cm + 2 * PAD, d.rows * cm + 2 * PAD);
  for (let i = 0; i < d.post.length; i += 1) {
    const x = PAD + (i % d.cols) * cm;
    const y = PAD + Math.floor(i / d.cols) * cm;
    if (i <= s.pos) {
      map.fillStyle = cssColour(s.colours.map[i]);
      map.fillRect(x, y, cm, cm);
    } else {
      map.fillStyle = BLANK;
      map.fillRect(x, y, cm - 1, cm - 1);
    }
  }
  outline(map, PAD + col * cm, PAD + row * cm, cm, cm);

  const total = d.post.length;
  s.position.textContent = `position (${row}, ${col}) of ${d.rows}×${d.cols}`;
  s.position.dataset.row = String(row);
  s.position.dataset.col = String(col);
  s.filled.textContent = `${s.pos + 1} of ${total} positions computed`;
  s.root.dataset.filled = String(s.pos + 1);
  s.root.dataset.position = String(s.pos);
}

function outline(ctx, x, y, w, h) {
  ctx.strokeStyle = HIGHLIGHT;
  ctx.lineWidth = 2;
  ctx.strokeRect(x - 1, y - 1, w + 2, h + 2);
}

function writeSum(s, row, col) {
  const d = s.data;
  const i = row * d.cols + col;
  const pre = d.pre[i];
  const printed = {
    sum: fmt(pre - d.bias, 3),
    bias: fmt(d.bias, 3),
    pre: fmt(pre, 3),
    value: fmt(d.post[i], 3),
  };
  const terms = d.size * d.size;
  s.sum.replaceChildren(
    `Σ of the ${terms} products = ${printed.sum} + bias ${printed.bias} = ${printed.pre}`,
    document.createElement("br"),
    `→ ${d.activation} → `,
    bold(printed.value),
    `: the map's value at (${row}, ${col})`,
  );
  Object.assign(s.sum.dataset, { row: String(row), col: String(col), ...printed });
}

function bold(text) {
  const b = document.createElement("b");
  b.textContent = text;
  return b;
}
