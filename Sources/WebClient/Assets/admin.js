// Admin: the MCP servers with their state, latency over the last hour (an inline SVG line from the
// health samples) and a restart button. Refreshes every 15 s while shown.
import { api } from "./api.js";
import { h, clear, notice, formatTime } from "./dom.js";
import { describe } from "./app.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) element.setAttribute(key, String(value));
  return element;
}

/** A small line chart of latency_ms over the last hour; gaps where a sample had no latency. */
export function latencyChart(samples, now = Date.now()) {
  const width = 300;
  const height = 60;
  const start = now - 3600_000;
  const points = samples.filter((s) => typeof s.latency_ms === "number" && s.at >= start);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "chart", role: "img" });
  const max = Math.max(1, ...points.map((s) => s.latency_ms));
  const title = svg("title", {});
  title.textContent = points.length
    ? `Latency over the last hour: ${points.length} samples, highest ${max.toFixed(1)} ms, latest ${points[points.length - 1].latency_ms.toFixed(1)} ms`
    : "No latency samples in the last hour";
  chart.append(title);
  chart.append(svg("line", { x1: 0, y1: height - 1, x2: width, y2: height - 1, class: "axis" }));
  const x = (at) => ((at - start) / 3600_000) * width;
  const y = (ms) => height - 2 - (ms / max) * (height - 8);
  if (points.length) {
    chart.append(svg("polyline", { points: points.map((s) => `${x(s.at).toFixed(1)},${y(s.latency_ms).toFixed(1)}`).join(" "), class: "line" }));
  }
  if (points.length < 40) {
    for (const s of points) chart.append(svg("circle", { cx: x(s.at).toFixed(1), cy: y(s.latency_ms).toFixed(1), r: 2, class: "point" }));
  }
  for (const s of samples.filter((s) => (s.status === "down" || s.status === "degraded") && s.at >= start)) {
    chart.append(svg("circle", { cx: x(s.at).toFixed(1), cy: height - 4, r: 2, class: "down" }));
  }
  const label = svg("text", { x: 2, y: 10, class: "label" });
  label.textContent = `${max.toFixed(0)} ms`;
  chart.append(label);
  return chart;
}

export function adminView() {
  const status = notice();
  const table = h("table", { class: "servers-table" });
  const updated = h("p", { class: "muted small" });
  async function load() {
    try {
      const servers = (await api("GET", "/admin/mcp-servers")).items;
      const rows = await Promise.all(servers.map(async (server) => {
        let samples = [];
        try { samples = (await api("GET", `/admin/mcp-servers/${encodeURIComponent(server.name)}/health`)).items; } catch { /* none */ }
        return { server, samples };
      }));
      clear(table).append(h("caption", {}, "MCP servers"),
        h("thead", {}, h("tr", {}, ...["Server", "State", "Latency (last hour)", "Tools", ""].map((t) => h("th", { scope: "col" }, t)))));
      const body = h("tbody");
      if (!rows.length) body.append(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No MCP servers are defined.")));
      for (const { server, samples } of rows) {
        const restart = h("button", { type: "button", "aria-label": `Restart ${server.name}` }, "Restart");
        restart.addEventListener("click", async () => {
          status.clear();
          restart.disabled = true;
          try {
            await api("POST", `/admin/mcp-servers/${encodeURIComponent(server.name)}/restart`, {});
            status.show(`Restarting ${server.name}…`, "ok");
            setTimeout(load, 1500);
          } catch (error) { status.show(describe(error, `Could not restart ${server.name}`)); }
          finally { restart.disabled = false; }
        });
        body.append(h("tr", { class: `state-${server.state}` },
          h("th", { scope: "row" }, server.name, h("div", { class: "muted small" }, `${server.transport} · group ${server.group}`)),
          h("td", {}, h("span", { class: `badge state ${server.state}` }, server.state),
            server.crash_loop ? h("div", { class: "small warn" }, "crash loop") : null,
            server.last_error ? h("div", { class: "small muted" }, server.last_error) : null),
          h("td", {}, latencyChart(samples), h("div", { class: "small muted" },
            typeof server.latency_ms === "number" ? `now ${server.latency_ms.toFixed(1)} ms` : "no latency yet")),
          h("td", {}, String((server.tools || []).length)),
          h("td", {}, restart)));
      }
      table.append(body);
      updated.textContent = `Updated ${formatTime(Date.now())}`;
    } catch (error) { status.show(describe(error, "Loading the MCP servers")); }
  }
  load();
  const timer = setInterval(load, 15000);
  return {
    element: h("section", {}, h("h1", {}, "Administration"), status, h("div", { class: "table-scroll" }, table), updated),
    cleanup: () => clearInterval(timer),
  };
}
