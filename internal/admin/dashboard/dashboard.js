// metasrv dashboard: polls /v1/cluster/overview every second and renders
// it. Rates are the change of the node's counters (last_seq, applied_index,
// reads_total) over the last few seconds of the server's clock (time_ms),
// not the browser's. No dependencies.
"use strict";

const POLL_MS = 1000;
const HISTORY = 120; // samples kept for the sparklines: 2 minutes
const SVG_NS = "http://www.w3.org/2000/svg";

const history = { writes: [], reads: [], applied: [] };

const $ = (id) => document.getElementById(id);
const fmt = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US"));

function fmtRate(r) {
  if (r === null || r === undefined) return "—";
  if (r >= 100) return Math.round(r).toLocaleString("en-US");
  if (r >= 10) return r.toFixed(1);
  return r.toFixed(r === 0 ? 0 : 2);
}

function fmtBytes(b) {
  if (b === null || b === undefined || b < 0) return "unknown";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
  return (i === 0 ? b : b.toFixed(1)) + " " + units[i];
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function badge(role) {
  return el("span", { class: "badge badge-" + role, "data-role": role }, role);
}

function setText(id, text) { $(id).textContent = text; }

// samples are the counters of recent overviews, on the server's clock.
// A rate is the change over the last RATE_WINDOW_MS (or what there is of
// it): steadier than the change since the previous poll.
const RATE_WINDOW_MS = 5000;
const samples = [];

function addSample(ov) {
  const st = ov.status;
  const last = samples[samples.length - 1];
  if (last && (last.id !== st.id || ov.time_ms < last.t)) {
    samples.length = 0; // another node answered, or its clock went back
  } else if (last && ov.time_ms === last.t) {
    samples.pop(); // same millisecond: keep the newer counters
  }
  samples.push({ id: st.id, t: ov.time_ms, writes: st.last_seq, applied: st.applied_index, reads: st.reads_total });
  while (samples.length > 2 && ov.time_ms - samples[1].t >= RATE_WINDOW_MS) samples.shift();
}

// rate of counter key per second over the window; null when unknown.
function rate(key) {
  if (samples.length < 2) return null;
  const a = samples[0], b = samples[samples.length - 1];
  if (a[key] === undefined || b[key] === undefined) return null;
  return Math.max(0, (b[key] - a[key]) / ((b.t - a.t) / 1000));
}

function push(series, v) {
  series.push(v === null ? 0 : v);
  if (series.length > HISTORY) series.shift();
}

function peak(series) {
  if (!series.length) return "\u00a0";
  const secs = Math.round(series.length * POLL_MS / 1000);
  const span = secs < 120 ? secs + " s" : Math.round(secs / 60) + " min";
  return "peak " + fmtRate(Math.max(...series)) + " over the last " + span;
}

function sparkline(svg, series) {
  const W = 300, H = 56, pad = 3;
  svg.replaceChildren();
  const base = document.createElementNS(SVG_NS, "line");
  base.setAttribute("class", "base");
  base.setAttribute("x1", 0); base.setAttribute("x2", W);
  base.setAttribute("y1", H - 0.5); base.setAttribute("y2", H - 0.5);
  svg.append(base);
  if (series.length < 2) return;
  const max = Math.max(1, ...series);
  // Spread what there is over the width; once full, it scrolls.
  const step = W / (series.length - 1);
  const x0 = 0;
  const pts = series.map((v, i) => [x0 + i * step, H - pad - (v / max) * (H - 2 * pad)]);
  const line = pts.map((p) => p[0].toFixed(1) + "," + p[1].toFixed(1)).join(" ");
  const area = document.createElementNS(SVG_NS, "polygon");
  area.setAttribute("class", "area");
  area.setAttribute("points", x0.toFixed(1) + "," + H + " " + line + " " + W + "," + H);
  const pl = document.createElementNS(SVG_NS, "polyline");
  pl.setAttribute("class", "line");
  pl.setAttribute("points", line);
  svg.append(area, pl);
}

// lagCell: the bar is how much of the leader's log the node holds; its
// colour how far behind it is, red when the leader does not hear from it.
function lagCell(n, lastIndex) {
  if (n.lag === null || n.lag === undefined) return el("td", { class: "lagcol muted" }, "—");
  // A few entries in flight are normal under writes.
  const cls = n.active === false || n.lag >= 1000 ? "lag-bad" : n.lag >= 100 ? "lag-warn" : "lag-ok";
  const width = lastIndex > 0 ? Math.max(3, Math.min(100, (n.matched / lastIndex) * 100)) : 100;
  const fill = el("span");
  fill.style.width = width.toFixed(1) + "%";
  return el("td", { class: "lagcol" },
    el("div", { class: "lag " + cls, title: n.lag === 0 ? "in sync" : fmt(n.lag) + " entries behind" },
      el("div", { class: "bar" }, fill),
      el("span", { class: "n" }, n.lag === 0 ? "in sync" : fmt(n.lag) + " behind")));
}

function replicationCell(n) {
  if (n.self) return el("td", {}, el("span", { class: "dot dot-ok" }), "local");
  if (n.active === null || n.active === undefined) return el("td", { class: "muted" }, "—");
  const dot = el("span", { class: "dot " + (n.active ? "dot-ok" : "dot-bad") });
  return el("td", {}, dot, (n.active ? "active" : "unreachable") + (n.state ? " · " + n.state : ""));
}

function renderNodes(ov) {
  const st = ov.status;
  const rows = ov.nodes.map((n) =>
    el("tr", { class: n.self ? "self" : "", "data-node-id": n.id, "data-role": n.role },
      el("td", { class: "node" }, "node " + n.id, n.self ? el("span", { class: "you" }, "this node") : null),
      el("td", {}, badge(n.role), n.voter ? null : el("span", { class: "muted small" }, " non-voter")),
      el("td", { class: "mono" }, n.raft_address),
      el("td", { class: "mono" }, n.grpc_address),
      el("td", { class: "num" }, n.matched === null ? "—" : fmt(n.matched)),
      lagCell(n, st.last_log_index),
      replicationCell(n)));
  $("nodes").tBodies[0].replaceChildren(...rows);
  setText("nodes-note", st.is_leader
    ? ov.nodes.length + " members · lag is entries behind the leader's last log index " + fmt(st.last_log_index)
    : ov.nodes.length + " members");
}

function render(ov) {
  const st = ov.status;
  document.title = "metasrv · node " + st.id + " · " + st.raft_state;
  setText("cluster-name", st.cluster_name);
  setText("self-id", "node " + st.id);
  setText("version", "version " + st.version);

  const h = $("health");
  h.className = "pill " + (ov.health.status === "pass" ? "pill-ok" : "pill-bad");
  h.textContent = ov.health.status === "pass" ? "healthy" : "unhealthy";
  h.title = ov.health.reason || "";

  // Leader card.
  const leader = $("leader");
  if (st.leader_id) {
    leader.replaceChildren(el("span", {}, "node " + st.leader_id), badge("leader"));
    setText("leader-addr", st.leader ? st.leader.grpc_address : "");
  } else {
    leader.replaceChildren(el("span", { class: "muted" }, "none"));
    setText("leader-addr", "election or partition");
  }
  setText("leader-id", String(st.leader_id || 0));

  setText("term", fmt(st.current_term));
  setText("state", "this node: " + st.raft_state);
  setText("commit", fmt(st.commit_index));
  setText("last-log", "last log index " + fmt(st.last_log_index));
  setText("applied", fmt(st.applied_index));
  const applyLag = Math.max(0, st.commit_index - st.applied_index);
  setText("apply-lag", applyLag === 0 ? "up to date" : fmt(applyLag) + " behind commit");
  setText("keys", fmt(st.key_count));
  setText("last-seq", "last seq " + fmt(st.last_seq));

  // Rates, on the server's clock.
  addSample(ov);
  const writes = rate("writes"), applied = rate("applied"), reads = rate("reads");
  if (samples.length >= 2) {
    push(history.writes, writes);
    push(history.applied, applied);
    push(history.reads, reads);
  }
  setText("rate-writes", fmtRate(writes));
  setText("rate-applied", fmtRate(applied));
  setText("rate-reads", st.reads_total === undefined ? "not reported" : fmtRate(reads));
  setText("peak-writes", peak(history.writes));
  setText("peak-applied", peak(history.applied));
  setText("peak-reads", st.reads_total === undefined ? "\u00a0" : peak(history.reads));
  sparkline($("spark-writes"), history.writes);
  sparkline($("spark-applied"), history.applied);
  sparkline($("spark-reads"), history.reads);

  renderNodes(ov);

  const notice = $("notice");
  notice.hidden = st.is_leader && ov.health.status === "pass";
  if (ov.health.status !== "pass") {
    notice.className = "banner banner-warn";
    notice.textContent = "Unhealthy: " + ov.health.reason + ".";
  } else if (!st.is_leader) {
    notice.className = "banner banner-info";
    notice.textContent = "This node is a " + st.raft_state + "; node " + st.leader_id +
      " leads. Replication lag per node is known on the leader: open its dashboard.";
  }

  const snap = st.snapshot_last_log_id;
  setText("snapshot", snap ? "index " + fmt(snap.index) + " · term " + fmt(snap.leader_id.term) + (st.snapshotting ? " · writing a new one" : "") : "none yet");
  setText("purged", fmt(st.purged_index));
  setText("wal", fmtBytes(st.wal_size));
  setText("self-raft", st.raft_address);
  setText("self-grpc", st.grpc_address);

  setText("updated", "updated " + new Date(ov.time_ms).toLocaleTimeString("en-GB"));
  $("error").hidden = true;
  document.body.dataset.state = "ready";
}

async function poll() {
  try {
    const resp = await fetch("/v1/cluster/overview", { cache: "no-store" });
    if (!resp.ok) throw new Error("GET /v1/cluster/overview: HTTP " + resp.status);
    render(await resp.json());
  } catch (e) {
    const err = $("error");
    err.hidden = false;
    err.textContent = "Cannot reach this node's admin API (" + e.message + "); retrying every second.";
    const h = $("health");
    h.className = "pill pill-bad";
    h.textContent = "unreachable";
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
