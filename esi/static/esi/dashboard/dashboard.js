/* The ESI dashboard: draws each panel of the feed, then polls the feed again (no reload, no
 * library, nothing fetched from elsewhere). Every value is put in the page as text
 * (textContent), never as HTML: error messages come from ESI. Times are shown in one form,
 * "YYYY-MM-DD HH:MM:SS UTC"; JSON values as JSON. Served by esi.dashboard (docs/operating.md). */
(function () {
  "use strict";
  var ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
  var COLORS = ["#1a5fb4", "#26a269", "#c64600", "#c01c28", "#813d9c", "#986a44"];
  var SVG = "http://www.w3.org/2000/svg";

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function svg(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function time(iso) { return iso.replace("T", " ").replace(/(\.\d+)?Z$/, " UTC"); }

  function text(value) {
    if (value === null || value === undefined) return "–";
    if (typeof value === "string") return ISO.test(value) ? time(value) : value;
    if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(1);
    if (typeof value === "boolean") return value ? "yes" : "no";
    return JSON.stringify(value, null, 2);
  }

  function cell(value) {
    if (value !== null && typeof value === "object") return el("td", {}, [el("pre", {}, [text(value)])]);
    return el("td", {}, [text(value)]);
  }

  function secs(value) { return value === null || value === undefined ? "–" : Math.round(value) + " s"; }

  function bar(used, max, warn) {
    var share = max ? Math.min(1, used / max) : 0;
    var outer = el("div", { "class": "esi-bar" + (warn ? " esi-warn" : ""), title: used + " / " + (max || "?") });
    outer.appendChild(el("div", { "class": "esi-fill", style: "width:" + (share * 100).toFixed(1) + "%" }));
    return outer;
  }

  var draw = {
    budget: function (d) {
      if (!d.enabled) return [el("p", {}, ["Shared limits are off (ESI_RATE_LIMITING = False)."])];
      var known = d.remain !== null && d.remain !== undefined;
      var out = [
        el("p", { "class": "esi-big" }, [
          el("span", { "data-value": "remain" }, [known ? String(d.remain) : "–"]),
          " / " + (d.limit || "?") + " errors left"
        ]),
      ];
      if (known && d.limit) out.push(bar(d.limit - d.remain, d.limit, d.remain <= d.threshold));
      out.push(el("p", {}, [
        known ? "Window resets in " + secs(d.reset_in) : "Not reported by ESI in the current window",
        "; " + d.in_flight + " in flight; threshold " + d.threshold + "."
      ]));
      if (d.paused) out.push(el("p", { "class": "esi-problem" }, ["PAUSED (" + d.reason + ") for " + secs(d.paused_for) + ": nothing is sent to ESI."]));
      out.push(el("p", { "class": "esi-help" }, [d.downtime ? "Daily downtime " + d.downtime + " UTC" + (d.downtime_active ? " (NOW)" : "") : "Daily downtime: not configured"]));
      return out;
    },

    bars: function (d, panel) {
      if (!d.rows.length) return [el("p", {}, [d.empty])];
      var sort = panel.sort || { key: null, dir: 1 };
      var rows = d.rows.slice();
      if (sort.key) {
        rows.sort(function (a, b) {
          var x = a[sort.key], y = b[sort.key];
          return (x < y ? -1 : x > y ? 1 : 0) * sort.dir;
        });
      }
      var head = el("tr", {}, []);
      [["label", "group / identity"], ["used", "used"], ["remaining", "left"], [null, "state"]].forEach(function (c) {
        var th = el("th", {}, [c[1] + (sort.key && sort.key === c[0] ? (sort.dir > 0 ? " ▲" : " ▼") : "")]);
        if (c[0]) {
          th.className = "esi-sortable";
          th.addEventListener("click", function () {
            panel.sort = { key: c[0], dir: sort.key === c[0] ? -sort.dir : 1 };
            render(panel);
          });
        }
        head.appendChild(th);
      });
      var body = el("tbody", {}, rows.map(function (r) {
        var low = r.max && r.remaining / r.max < 0.2;
        return el("tr", {}, [
          el("td", {}, [r.label]),
          el("td", {}, [bar(r.used, r.max, low), el("span", { "class": "esi-help" }, [r.used + " / " + (r.max || "?")])]),
          el("td", {}, [text(r.remaining)]),
          el("td", {}, [r.detail]),
        ]);
      }));
      return [el("table", {}, [el("thead", {}, [head]), body])];
    },

    chart: function (d) {
      var names = Object.keys(d.series), W = 640, H = 170, L = 34, B = 20;
      var top = 1;
      names.forEach(function (n) { d.series[n].forEach(function (v) { top = Math.max(top, v); }); });
      var n = d.x.length, pic = svg("svg", { viewBox: "0 0 " + W + " " + H, "class": "esi-chart", role: "img" });
      var x = function (i) { return L + (i * (W - L - 4)) / Math.max(1, n - 1); };
      var y = function (v) { return H - B - (v * (H - B - 8)) / top; };
      [0, top].forEach(function (v) {
        pic.appendChild(svg("line", { x1: L, x2: W - 4, y1: y(v), y2: y(v), "class": "esi-grid" }));
        var label = svg("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end" });
        label.textContent = String(v);
        pic.appendChild(label);
      });
      [0, n - 1].forEach(function (i) {
        var label = svg("text", { x: x(i), y: H - 4, "text-anchor": i ? "end" : "start" });
        label.textContent = time(d.x[i]).slice(11);
        pic.appendChild(label);
      });
      names.forEach(function (name, k) {
        var points = d.series[name].map(function (v, i) { return x(i).toFixed(1) + "," + y(v).toFixed(1); });
        pic.appendChild(svg("polyline", { points: points.join(" "), fill: "none", stroke: COLORS[k % COLORS.length], "stroke-width": 2, "data-series": name }));
      });
      var legend = el("p", { "class": "esi-legend" }, []);
      names.forEach(function (name, k) {
        legend.appendChild(el("span", { "class": "esi-key", style: "border-color:" + COLORS[k % COLORS.length] }, [
          name + ": ", el("strong", { "data-total": name }, [String(d.totals[name])])
        ]));
      });
      return [pic, legend, el("p", { "class": "esi-help" }, ["Totals of the last hour; one point per minute (UTC)."])];
    },

    table: function (d) {
      if (!d.rows.length) return [el("p", {}, [d.empty])];
      var head = el("tr", {}, d.columns.map(function (c) { return el("th", {}, [c]); }));
      var body = el("tbody", {}, d.rows.map(function (r) { return el("tr", {}, r.map(cell)); }));
      return [el("table", {}, [el("thead", {}, [head]), body])];
    },

    stats: function (d) {
      var list = el("dl", { "class": "esi-stats" }, []);
      d.items.forEach(function (item) {
        list.appendChild(el("dt", {}, [item[0]]));
        list.appendChild(el("dd", { "data-stat": item[0] }, [text(item[1])]));
      });
      if (d.note) return [list, el("p", { "class": "esi-help" }, [d.note])];
      return [list];
    },
  };

  var panels = {};

  function render(panel) {
    var body = panel.node.querySelector(".esi-body");
    var parts;
    if (!panel.data.ok) {
      parts = [el("p", { "class": "esi-problem" }, [panel.data.error])];
    } else {
      try { parts = (draw[panel.data.kind] || draw.stats)(panel.data.data, panel); }
      catch (err) { parts = [el("p", { "class": "esi-problem" }, ["Cannot draw this panel: " + err])]; }
    }
    if (panel.data.help) parts.push(el("p", { "class": "esi-help" }, [panel.data.help]));
    body.replaceChildren.apply(body, parts);
  }

  function show(feed) {
    document.getElementById("esi-generated").textContent = time(feed.generated_at);
    var holder = document.getElementById("esi-panels");
    feed.panels.forEach(function (data) {
      var panel = panels[data.name];
      if (!panel) {
        var node = document.getElementById("panel-" + data.name);
        if (!node) {
          node = el("section", { "class": "esi-panel", id: "panel-" + data.name }, [el("h2", {}, [data.title]), el("div", { "class": "esi-body" }, [])]);
          holder.appendChild(node);
        }
        panel = panels[data.name] = { node: node };
      }
      panel.data = data;
      panel.node.setAttribute("data-ok", data.ok ? "1" : "0");
      render(panel);
    });
  }

  function start() {
    var root = document.getElementById("esi-ops");
    var state = document.getElementById("esi-state");
    var every = (parseInt(root.getAttribute("data-refresh"), 10) || 5) * 1000;
    var url = root.getAttribute("data-url");
    show(JSON.parse(document.getElementById("esi-feed").textContent));
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
        .then(function (r) {
          var type = r.headers.get("Content-Type") || "";
          if (!r.ok || type.indexOf("application/json") !== 0) {
            throw new Error(r.status === 403 || r.redirected ? "signed out or no permission: reload to sign in" : "HTTP " + r.status);
          }
          return r.json();
        })
        .then(function (feed) { show(feed); state.textContent = ""; state.className = ""; })
        .catch(function (err) { state.textContent = "refresh failed (" + err.message + "); showing the last data"; state.className = "esi-problem"; })
        .then(function () { setTimeout(poll, every); });
    }
    setTimeout(poll, every);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
