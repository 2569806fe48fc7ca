// raftboot status page: polls GET /v1/overview every second and redraws the tables.
// The admin token comes from the URL fragment (#token=...), which browsers never send to
// the server; it is kept in sessionStorage for reloads and removed from the address bar.
// Every value is put into the page with textContent, never parsed as HTML.
"use strict";

(function () {
  const POLL_MS = 1000;
  const KEY = "raftboot-status-token";

  function readToken() {
    const frag = new URLSearchParams(location.hash.replace(/^#/, ""));
    const t = frag.get("token");
    if (t) {
      try { sessionStorage.setItem(KEY, t); } catch (e) { /* storage off: keep the fragment */ return t; }
      history.replaceState(null, "", location.pathname);
      return t;
    }
    try { return sessionStorage.getItem(KEY); } catch (e) { return null; }
  }

  const $ = (id) => document.getElementById(id);

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const c of cells) {
      if (c instanceof Node) {
        const td = document.createElement("td");
        td.appendChild(c);
        tr.appendChild(td);
      } else if (c && typeof c === "object") {
        tr.appendChild(el("td", c.text, c.cls));
      } else {
        tr.appendChild(el("td", c));
      }
    }
    return tr;
  }

  function fill(tbody, rows, empty) {
    if (rows.length === 0) {
      const td = el("td", empty, "small");
      td.colSpan = tbody.parentElement.tHead.rows[0].cells.length;
      const tr = document.createElement("tr");
      tr.appendChild(td);
      tbody.replaceChildren(tr);
    } else {
      tbody.replaceChildren(...rows);
    }
  }

  function pad(n, w) { return String(n).padStart(w || 2, "0"); }

  function utc(ms) {
    const d = new Date(ms);
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + "." +
      pad(d.getUTCMilliseconds(), 3);
  }

  function bytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    let v = n;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? v : v.toFixed(1)) + " " + units[i];
  }

  function nodeName(st, id) {
    const n = st.nodes.find((x) => x.id === id);
    return n ? n.name : "?";
  }

  function setNode(e, st, id) {
    e.dataset.node = id === null || id === undefined ? "" : String(id);
    e.textContent = id === null || id === undefined ? "none" : nodeName(st, id) + " (" + id + ")";
    e.className = "big " + (id === null || id === undefined ? "bad" : "ok");
  }

  function renderSummary(o) {
    const st = o.status;
    $("cluster").textContent = st.cluster;
    setNode($("leader"), st, st.leader);
    $("term").textContent = st.term;
    $("vip").textContent = st.vip || "none (loopback)";
    const holder = $("vip-holder");
    if (st.vip) {
      setNode(holder, st, st.vip_holder);
    } else {
      holder.dataset.node = "";
      holder.textContent = "follows the leader";
      holder.className = "big";
    }
    const up = $("updated");
    up.dataset.ms = String(o.generated_ms);
    up.textContent = utc(o.generated_ms).slice(11, 19);
    $("served-by").textContent = "by " + nodeName(st, o.served_by) + " (" + o.served_by + ")";
  }

  function renderMembers(o) {
    const st = o.status;
    fill($("members").tBodies[0], st.nodes.map((n) => {
      const s = n.status;
      const role = n.witness ? "witness" : (n.voter ? "voter" : "learner");
      const state = s ? { text: s.server_state, cls: s.server_state === "Leader" ? "ok" : "" } : { text: "unreachable", cls: "bad" };
      const lag = n.lag === null || n.lag === undefined ? "–" : n.lag;
      const vip = st.vip_holder === n.id ? { text: "holds", cls: "ok" } : "";
      const tr = row([
        { text: n.id, cls: "num" }, n.name, role, state,
        s ? { text: s.term, cls: "num" } : "–",
        s && s.applied_index !== null ? { text: s.applied_index, cls: "num" } : "–",
        { text: lag, cls: "num" + (typeof lag === "number" && lag > 100 ? " warn" : "") },
        vip, el("code", n.admin_addr), n.error || "",
      ]);
      tr.dataset.node = String(n.id);
      if (st.leader === n.id) tr.className = "leader-row";
      return tr;
    }), "no members");
  }

  function renderMoves(o) {
    const st = o.status;
    fill($("moves").tBodies[0], o.vip_moves.map(([id, e]) => {
      const detail = e.reason || e.error || "";
      const cls = e.kind === "claimed" ? "ok" : (e.kind === "claim_failed" ? "bad" : "");
      return row([utc(e.at_ms), nodeName(st, id) + " (" + id + ")", { text: e.kind, cls: cls }, { text: e.term, cls: "num" }, detail]);
    }), "no VIP moves yet");
  }

  function renderImages(o) {
    const st = o.status;
    fill($("images").tBodies[0], o.images.map((v) => {
      const per = el("span");
      v.readiness.forEach(([id, r], i) => {
        if (i > 0) per.appendChild(document.createTextNode(" · "));
        const txt = nodeName(st, id) + ": " + (r.ready ? "ready" : "not ready" + (r.reason ? " (" + r.reason + ")" : ""));
        per.appendChild(el("span", txt, r.ready ? "ok" : "warn"));
      });
      const ready = { text: v.ready + "/" + v.replicas, cls: v.ready === v.replicas ? "ok" : "warn" };
      return row([v.image.name, { text: v.image.seq, cls: "num" }, { text: bytes(v.image.size), cls: "num" },
        v.active_in.join(", "), ready, per]);
    }), "no images");
  }

  function renderBoots(o) {
    const box = $("boots");
    const notes = o.boots_unreachable.map(([n, why]) => n + ": " + why);
    $("boots-note").textContent = o.boots.length === 0 ? "no boots seen yet" + (notes.length ? "; " : "") + notes.join("; ") : notes.join("; ");
    box.replaceChildren(...o.boots.map((t) => {
      const div = el("div", null, "machine");
      div.dataset.key = t.key;
      const title = (t.host ? t.host + "  " : "") + t.key + (t.last_addr && t.last_addr !== t.key ? "  " + t.last_addr : "");
      div.appendChild(el("h3", title));
      const table = el("table");
      const body = document.createElement("tbody");
      const base = t.events.length ? t.events[0].first_ms : 0;
      for (const e of t.events) {
        body.appendChild(row([utc(e.first_ms), { text: "+" + (e.first_ms - base) + " ms", cls: "num" }, e.stage, e.node,
          { text: "×" + e.count, cls: "num" }, el("code", e.path)]));
      }
      table.appendChild(body);
      div.appendChild(table);
      return div;
    }));
  }

  function render(o) {
    renderSummary(o);
    renderMembers(o);
    renderMoves(o);
    renderImages(o);
    renderBoots(o);
  }

  function setConn(state, text) {
    const c = $("conn");
    c.dataset.state = state;
    c.textContent = text;
  }

  let token = null;
  let polling = false;

  async function poll() {
    try {
      const r = await fetch("/v1/overview", { headers: { Authorization: "Bearer " + token }, cache: "no-store" });
      if (r.status === 401) {
        setConn("error", "the token was refused: open /status#token=<admin token>");
      } else if (!r.ok) {
        let msg = "HTTP " + r.status;
        try { const b = await r.json(); msg = b.message || msg; } catch (e) { /* not JSON */ }
        setConn("error", msg);
      } else {
        const o = await r.json();
        render(o);
        setConn("ok", "live, every " + POLL_MS / 1000 + " s");
      }
    } catch (e) {
      setConn("error", "cannot reach this node: " + e.message);
    }
    setTimeout(poll, POLL_MS);
  }

  // (Re)read the token: at start, and when a new #token=... is put into the address bar.
  function start() {
    const t = readToken();
    if (t) token = t;
    if (!token) {
      setConn("error", "no token: open /status#token=<admin token>");
      return;
    }
    if (!polling) {
      polling = true;
      poll();
    }
  }

  window.addEventListener("hashchange", start);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
