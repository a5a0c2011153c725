// A small SVG line chart (no library): one line per series over shared x labels, with axes, a
// legend and a table of the same numbers for screen readers and copying.
const NS = "http://www.w3.org/2000/svg";
const COLORS = ["#0b57d0", "#b3261e", "#7d5700", "#146c2e", "#6750a4"];

function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  node.append(...children);
  return node;
}

/** labels: x labels; series: [{name, values}] (numbers, one per label). */
export function lineChart(title, labels, series, { width = 900, height = 260 } = {}) {
  const pad = { left: 64, right: 16, top: 16, bottom: 28 };
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const x = (i) => pad.left + (labels.length < 2 ? 0 : (i * (width - pad.left - pad.right)) / (labels.length - 1));
  const y = (v) => height - pad.bottom - (v / max) * (height - pad.top - pad.bottom);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title, class: "chart" });
  for (const fraction of [0, 0.5, 1]) {
    const value = Math.round(max * fraction);
    chart.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(value), y2: y(value), stroke: "#e2e2e6" }),
      svg("text", { x: pad.left - 6, y: y(value) + 4, "text-anchor": "end", "font-size": 11, fill: "#4a4a4a" }, value.toLocaleString()));
  }
  const step = Math.max(1, Math.ceil(labels.length / 8));
  labels.forEach((label, i) => {
    if (i % step === 0 || i === labels.length - 1) {
      chart.append(svg("text", { x: x(i), y: height - 8, "text-anchor": "middle", "font-size": 11, fill: "#4a4a4a" }, label));
    }
  });
  series.forEach((s, n) => {
    const points = s.values.map((v, i) => `${x(i)},${y(v)}`).join(" ");
    chart.append(svg("polyline", { points, fill: "none", stroke: COLORS[n % COLORS.length], "stroke-width": 2, "data-series": s.name }));
  });
  const legend = document.createElement("p");
  legend.className = "legend";
  series.forEach((s, n) => {
    const key = document.createElement("span");
    key.style.color = COLORS[n % COLORS.length];
    key.textContent = `■ ${s.name}  `;
    legend.append(key);
  });
  const figure = document.createElement("figure");
  figure.append(chart, legend);
  return figure;
}
