// Telemetry charts: uPlot draws the numbers the page carries in <script type="application/json"
// id="telemetry-data">. The tables under the charts hold the same numbers (and stay open without
// JavaScript). The panel refreshes itself by fetching this page again and swapping the panel:
// htmx would strip the JSON <script> from a swapped fragment (allowScriptTags is false).
(function () {
  "use strict";
  var charts = [];
  var resizer = null;
  var timer = null;

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function readData() {
    var el = document.getElementById("telemetry-data");
    if (!el) return null;
    try { return JSON.parse(el.textContent); } catch (e) { return null; }
  }

  function axis(colors, extra) {
    var base = { stroke: colors.muted, grid: { stroke: colors.border, width: 1 }, ticks: { stroke: colors.border, width: 1 },
                 font: "12px Inter, system-ui, sans-serif" };
    for (var key in extra) base[key] = extra[key];
    return base;
  }

  function size(el) {
    return { width: Math.max(el.clientWidth, 200), height: 220 };
  }

  function formatMs(v) {
    if (v == null) return "–";
    return v >= 10000 ? (v / 1000).toFixed(1) + "s" : Math.round(v) + "ms";
  }

  function shortMs(v) {
    return v >= 1000 ? v / 1000 + "s" : v + "ms";
  }

  function volumeChart(el, data, colors) {
    var ts = [], calls = [], errors = [];
    data.volume.forEach(function (b) { ts.push(b.ts); calls.push(b.calls); errors.push(b.errors); });
    var opts = Object.assign(size(el), {
      // Bucket starts are UTC, like the table: the axis must not shift them to the browser's zone.
      tzDate: function (seconds) { return uPlot.tzDate(new Date(seconds * 1000), "Etc/UTC"); },
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(1, max)]; } } },
      series: [
        { label: "Bucket (UTC)" },
        { label: "Calls", stroke: colors.accent, width: 2, fill: colors.accentFill, points: { show: true, size: 5, fill: colors.surface } },
        { label: "Errors", stroke: colors.bad, width: 2, points: { show: true, size: 5, fill: colors.surface } },
      ],
      axes: [axis(colors, {}), axis(colors, { size: 48, values: function (u, splits) {
        return splits.map(function (v) { return Number.isInteger(v) ? String(v) : ""; });
      } })],
      cursor: { points: { size: 7 } },
    });
    return new uPlot(opts, [ts, calls, errors], el);
  }

  function latencyChart(el, data, colors) {
    var labels = data.latency.map(function (c) { return c.label; });
    var ticks = data.latency.map(function (c) { return c.high_ms == null ? "≥" + shortMs(c.low_ms) : "<" + shortMs(c.high_ms); });
    var xs = labels.map(function (_, i) { return i; });
    var counts = data.latency.map(function (c) { return c.calls; });
    var opts = Object.assign(size(el), {
      scales: { x: { time: false, range: [-0.5, labels.length - 0.5] }, y: { range: function (u, min, max) { return [0, Math.max(1, max)]; } } },
      series: [
        { label: "Duration", value: function (u, i) { return i == null ? "–" : labels[i]; } },
        { label: "Calls", stroke: colors.accent, fill: colors.accentFill, width: 1,
          paths: uPlot.paths.bars({ size: [0.7, 64] }), points: { show: false } },
      ],
      axes: [
        axis(colors, { grid: { show: false }, splits: function () { return xs; }, values: function () { return ticks; },
                       rotate: 0, size: 40, font: "10px Inter, system-ui, sans-serif" }),
        axis(colors, { size: 48, values: function (u, splits) {
          return splits.map(function (v) { return Number.isInteger(v) ? String(v) : ""; });
        } }),
      ],
      cursor: { points: { show: false }, drag: { x: false, y: false } },
      legend: { live: true },
    });
    return new uPlot(opts, [xs, counts], el);
  }

  function draw() {
    charts.forEach(function (c) { c.destroy(); });
    charts = [];
    if (resizer) { resizer.disconnect(); resizer = null; }
    var data = readData();
    if (!data || typeof window.uPlot === "undefined") return;  // the tables stay open: nothing is lost
    var colors = {
      text: cssVar("--text", "#ebdbb2"), muted: cssVar("--muted", "#bdae93"), border: cssVar("--border", "#3c3836"),
      accent: cssVar("--accent", "#fabd2f"), bad: cssVar("--bad", "#fb4934"), surface: cssVar("--surface", "#282828"),
    };
    colors.accentFill = colors.accent + "33";  // the accent at 20 % opacity (#rrggbbaa)
    var made = [["chart-volume", volumeChart], ["chart-latency", latencyChart]];
    made.forEach(function (pair) {
      var el = document.getElementById(pair[0]);
      if (!el) return;
      el.hidden = false;
      el.textContent = "";
      var chart = pair[1](el, data, colors);
      chart.root.dataset.chart = pair[0];
      charts.push(chart);
    });
    // With charts drawn, the tables fold away (still one click or keypress from being read).
    document.querySelectorAll("details[data-chart-table]").forEach(function (d) {
      if (!d.dataset.userToggled) d.open = false;
    });
    if (typeof ResizeObserver !== "undefined") {
      resizer = new ResizeObserver(function () {
        charts.forEach(function (c) {
          var box = size(document.getElementById(c.root.dataset.chart));
          if (box.width !== c.width) c.setSize(box);
        });
      });
      charts.forEach(function (c) { resizer.observe(document.getElementById(c.root.dataset.chart)); });
    }
  }

  // Fetch this page again and swap in its panel; open tables stay open.
  function refresh(url) {
    var panel = document.getElementById("telemetry-panel");
    if (!panel) return Promise.resolve();
    var open = [];
    panel.querySelectorAll("details[open][id]").forEach(function (d) { if (d.dataset.userToggled) open.push(d.id); });
    panel.setAttribute("aria-busy", "true");
    return fetch(url || window.location.href, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.redirected && response.url.indexOf("/login") !== -1) { window.location.assign(response.url); return null; }
        return response.text();
      })
      .then(function (html) {
        if (html == null) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("telemetry-panel");
        if (!fresh) return;
        panel.replaceWith(document.importNode(fresh, true));
        open.forEach(function (id) {
          var d = document.getElementById(id);
          if (d) { d.dataset.userToggled = "1"; d.open = true; }
        });
        draw();
        document.dispatchEvent(new CustomEvent("telemetry:refreshed"));
      })
      .catch(function () { /* offline for a moment: the next tick tries again */ })
      .finally(function () {
        var now = document.getElementById("telemetry-panel");
        if (now) now.removeAttribute("aria-busy");
      });
  }

  function schedule() {
    var panel = document.getElementById("telemetry-panel");
    var seconds = panel ? Number(panel.dataset.refreshSeconds) : 0;
    if (timer) clearInterval(timer);
    if (seconds > 0) {
      timer = setInterval(function () { if (!document.hidden) refresh(); }, seconds * 1000);
    }
  }

  document.addEventListener("change", function (event) {
    var form = event.target.closest("form[data-autosubmit]");
    if (form && event.target.matches("select")) form.requestSubmit();
  });
  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-telemetry-refresh]");
    if (link) {
      event.preventDefault();
      refresh(link.href);
    }
  });
  // A table the reader opened by hand is not folded away again by the next redraw.
  // (Folding by draw() fires toggle too, with open false, so only an open table counts.)
  document.addEventListener("toggle", function (event) {
    var d = event.target;
    if (d.matches && d.matches("details[data-chart-table]")) d.dataset.userToggled = d.open ? "1" : "";
  }, true);
  // The charts take their colours from the theme: redraw when the theme toggle flips it.
  new MutationObserver(draw).observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });

  function start() { draw(); schedule(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
