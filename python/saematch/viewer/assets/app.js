// The saematch report page: a table of one base SAE's latents and a page per
// latent, from window.SAEMATCH_DATA (data.js) and contexts/s<sae>_<chunk>.js.
// No network, no libraries: it runs from file:// as it is.
"use strict";

(function () {
  const ROW = 26;          // px per table row: rows are absolutely placed, only the visible ones exist
  const OVERSCAN = 10;     // rows drawn above and below the visible ones, for smooth scrolling
  const BINS = 40;         // histogram bins over [min, 1] of the matched cosines

  const D = window.SAEMATCH_DATA;
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const fmt = (x, digits) => (x === null || x === undefined || Number.isNaN(x) ? "–" : Number(x).toFixed(digits));
  const pct = (x) => (100 * x).toFixed(1) + "%";

  function fail(message) {
    const e = $("error");
    e.textContent = message;
    e.hidden = false;
    document.body.dataset.ready = "error";
  }

  if (!D || D.format !== 1) {
    fail(D ? "data.js has format " + D.format + "; this page reads format 1: rebuild the report with this saematch"
           : "data.js is missing or did not load: open index.html inside the report folder saematch wrote");
    return;
  }

  // ---------------------------------------------------------------- data
  const T = D.table;
  const S = D.summary;
  const N = T.latents;
  const others = T.others;               // the other SAEs, the order of every per-seed list
  const rules = S.rules;
  const col = {
    share: {}, encP: [], decP: [], encC: [], decC: [], agree: [], shared: [],
    dead: Uint8Array.from(T.dead),
    freq: T.frequency ? Float64Array.from(T.frequency) : null,
    meanEnc: new Float32Array(N), meanDec: new Float32Array(N),
  };
  for (const r of rules) col.share[r] = Int32Array.from(T.share_counts[r]);
  others.forEach((_, k) => {
    col.encP.push(Int32Array.from(T.enc_partner[k]));
    col.decP.push(Int32Array.from(T.dec_partner[k]));
    col.encC.push(Float32Array.from(T.enc_cos[k]));
    col.decC.push(Float32Array.from(T.dec_cos[k]));
    col.agree.push(Uint8Array.from(T.agree[k]));
    const byRule = {};
    for (const r of rules) byRule[r] = Uint8Array.from(T.shared[r][k]);
    col.shared.push(byRule);
  });
  for (let i = 0; i < N; i++) {
    let e = 0, d = 0;
    for (let k = 0; k < others.length; k++) { e += col.encC[k][i]; d += col.decC[k][i]; }
    col.meanEnc[i] = e / others.length;
    col.meanDec[i] = d / others.length;
  }
  const name = (s) => S.saes[s];
  const baseName = name(S.base);

  // ---------------------------------------------------------------- table
  const state = { rule: S.rule, status: "all", fmin: null, fmax: null, cosKind: "dec", cmin: null, cmax: null,
                  sortKey: null, sortDir: 1 };
  let view = new Uint32Array(0);   // the row order on screen: indices of the latents that pass the filters

  function status(i) {
    if (col.dead[i]) return { cls: "dead", text: "dead" };
    const c = col.share[state.rule][i];
    if (c === 0) return { cls: "unshared", text: "unshared" };
    return { cls: c === others.length ? "shared-all" : "shared", text: "shared ×" + c };
  }

  const columns = [
    { key: "latent", label: "latent", w: 70, value: (i) => i, html: (i) => '<a href="#latent=' + i + '">' + i + "</a>" },
    { key: "status", label: "status", w: 96, value: (i) => (col.dead[i] ? -1 : col.share[state.rule][i]),
      html: (i) => { const s = status(i); return '<span class="badge ' + s.cls + '">' + s.text + "</span>"; } },
  ];
  for (const r of rules) {
    columns.push({ key: "share-" + r, label: r, w: 84, title: "shared with this many of the " + others.length +
                   " other seeds under the " + r + " rule (t = " + S.threshold + ")",
                   value: (i) => col.share[r][i], html: (i) => String(col.share[r][i]) });
  }
  columns.push({ key: "mean-dec", label: "mean dec cos", w: 96, value: (i) => col.meanDec[i], html: (i) => fmt(col.meanDec[i], 3) });
  columns.push({ key: "mean-enc", label: "mean enc cos", w: 96, value: (i) => col.meanEnc[i], html: (i) => fmt(col.meanEnc[i], 3) });
  others.forEach((o, k) => {
    const cell = (P, C) => (i) => (P[k][i] < 0 ? '<span class="none">none</span>'
      : fmt(C[k][i], 3) + ' <span class="partner">→' + P[k][i] + "</span>");
    columns.push({ key: "enc-" + o, label: "enc · " + name(o), w: 140, value: (i) => col.encC[k][i], html: cell(col.encP, col.encC),
                   title: "encoder matching with " + name(o) + ": matched cosine → partner" });
    columns.push({ key: "dec-" + o, label: "dec · " + name(o), w: 140, value: (i) => col.decC[k][i], html: cell(col.decP, col.decC),
                   title: "decoder matching with " + name(o) + ": matched cosine → partner" });
  });
  if (col.freq) {
    columns.push({ key: "freq", label: "frequency", w: 96, value: (i) => col.freq[i], html: (i) => (col.freq[i] === 0 ? "0" : col.freq[i].toPrecision(3)),
                   title: "fraction of the collected tokens on which it fires" });
  }
  const width = columns.reduce((s, c) => s + c.w, 0);

  function buildHead() {
    const head = $("grid-head");
    head.style.width = width + "px";
    head.innerHTML = columns.map((c) => '<div class="cell sortable" data-key="' + c.key + '" style="width:' + c.w + 'px"' +
      (c.title ? ' title="' + esc(c.title) + '"' : "") + ">" + esc(c.label) +
      (state.sortKey === c.key ? (state.sortDir > 0 ? " ▲" : " ▼") : "") + "</div>").join("");
  }

  function number(id) {
    const v = $(id).value.trim();
    if (v === "") return null;
    const x = Number(v);
    return Number.isFinite(x) ? x : null;
  }

  function passes(i) {
    const dead = col.dead[i], c = col.share[state.rule][i];
    switch (state.status) {
      case "shared-all": if (dead || c !== others.length) return false; break;
      case "shared": if (dead || c < 1) return false; break;
      case "unshared": if (dead || c !== 0) return false; break;
      case "dead": if (!dead) return false; break;
      case "alive": if (dead) return false; break;
    }
    if (col.freq && (state.fmin !== null || state.fmax !== null)) {
      const f = col.freq[i];
      if ((state.fmin !== null && f < state.fmin) || (state.fmax !== null && f > state.fmax)) return false;
    }
    if (state.cmin !== null || state.cmax !== null) {
      const m = state.cosKind === "dec" ? col.meanDec[i] : col.meanEnc[i];
      if ((state.cmin !== null && m < state.cmin) || (state.cmax !== null && m > state.cmax)) return false;
    }
    return true;
  }

  function refilter() {
    const started = performance.now();
    state.rule = $("f-rule").value;
    state.status = $("f-status").value;
    state.fmin = number("f-fmin"); state.fmax = number("f-fmax");
    state.cosKind = $("f-coskind").value;
    state.cmin = number("f-cmin"); state.cmax = number("f-cmax");
    const keep = new Uint32Array(N);
    let m = 0;
    for (let i = 0; i < N; i++) if (passes(i)) keep[m++] = i;
    view = keep.slice(0, m);
    sortView();
    $("count").textContent = m.toLocaleString("en") + " of " + N.toLocaleString("en") + " latents";
    $("grid-body").scrollTop = 0;
    drawRows(true);
    app.lastUpdateMs = performance.now() - started;
    document.body.dataset.updates = String(++app.updates);
  }

  function sortView() {
    if (state.sortKey === null) return;   // the filtered order is latent order already
    const c = columns.find((x) => x.key === state.sortKey);
    const key = new Float64Array(N);
    for (const i of view) key[i] = c.value(i);
    const dir = state.sortDir;
    view.sort((a, b) => (key[a] - key[b]) * dir || a - b);
  }

  let lastFirst = -1;
  function drawRows(force) {
    const body = $("grid-body");
    const first = Math.max(0, Math.floor(body.scrollTop / ROW) - OVERSCAN);
    if (!force && first === lastFirst) return;
    lastFirst = first;
    const count = Math.ceil(body.clientHeight / ROW) + 2 * OVERSCAN;
    const last = Math.min(view.length, first + count);
    $("grid-spacer").style.height = view.length * ROW + "px";
    $("grid-spacer").style.width = width + "px";
    const rows = $("grid-rows");
    rows.style.top = first * ROW + "px";
    let html = "";
    for (let r = first; r < last; r++) {
      const i = view[r];
      html += '<div class="row" data-latent="' + i + '">' +
        columns.map((c) => '<div class="cell" style="width:' + c.w + 'px">' + c.html(i) + "</div>").join("") + "</div>";
    }
    rows.innerHTML = html;
  }

  function initTable() {
    $("f-rule").innerHTML = rules.map((r) => '<option value="' + r + '"' + (r === S.rule ? " selected" : "") + ">" + r + "</option>").join("");
    if (!col.freq) { $("f-fmin").disabled = true; $("f-fmax").disabled = true; }
    for (const id of ["f-rule", "f-status", "f-coskind"]) $(id).addEventListener("change", refilter);
    for (const id of ["f-fmin", "f-fmax", "f-cmin", "f-cmax"]) $(id).addEventListener("input", refilter);
    $("f-goto").addEventListener("change", () => {
      const i = Number($("f-goto").value);
      if (Number.isInteger(i) && i >= 0 && i < N) location.hash = "#latent=" + i;
    });
    $("grid-head").addEventListener("click", (ev) => {
      const cell = ev.target.closest("[data-key]");
      if (!cell) return;
      const key = cell.dataset.key;
      state.sortDir = state.sortKey === key ? -state.sortDir : (key === "latent" ? 1 : -1);
      state.sortKey = key;
      buildHead();
      refilter();
    });
    $("grid-rows").addEventListener("click", (ev) => {
      const row = ev.target.closest(".row");
      if (row && !ev.target.closest("a")) location.hash = "#latent=" + row.dataset.latent;
    });
    let pending = false;
    $("grid-body").addEventListener("scroll", () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => { pending = false; drawRows(false); });
    });
    buildHead();
    refilter();
  }

  // ---------------------------------------------------------------- contexts
  const chunks = {};      // "s_c" -> Promise of the chunk's lists
  window.saematchContexts = function (s, c, lists) {
    const entry = chunks[s + "_" + c];
    if (entry) entry.resolve(lists);
  };

  function contextsOf(sae, latent) {
    if (!D.contexts) return Promise.resolve(null);
    const c = Math.floor(latent / D.contexts.chunk);
    const key = sae + "_" + c;
    if (!chunks[key]) {
      let resolve, reject;
      const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
      chunks[key] = { promise, resolve };
      const script = document.createElement("script");
      script.src = "contexts/s" + sae + "_" + c + ".js";
      script.onerror = () => reject(new Error("cannot read " + script.src + " (the report folder is incomplete)"));
      document.head.appendChild(script);
    }
    return chunks[key].promise.then((lists) => lists[latent - c * D.contexts.chunk] || []);
  }

  // WordPiece marks a word's continuation with "##", SentencePiece and byte-level BPE a new word with "▁" / "Ġ";
  // like the tokenizers' own clean-up, no space goes before closing punctuation or after an opening bracket.
  function tokenText(id, first, previous) {
    const raw = D.tokens[id] !== undefined ? D.tokens[id] : "#" + id;
    if (raw.startsWith("##")) return { text: raw.slice(2), space: false };
    if (raw.startsWith("Ġ") || raw.startsWith("▁")) return { text: raw.slice(1), space: !first };
    const glued = /^[.,;:!?)\]}%]$/.test(raw) || /^[(\[{]$/.test(previous || "");
    return { text: raw, space: !first && !glued };
  }

  function contextHtml(ctx, scale) {
    const [top, doc, at, ids, acts] = ctx;
    let html = '<div class="ctx" title="document ' + doc + '"><span class="act">' + fmt(top, 2) + "</span><span class=\"text\">";
    ids.forEach((id, j) => {
      const t = tokenText(id, j === 0, j > 0 ? D.tokens[ids[j - 1]] : null);
      const a = acts[j] > 0 ? Math.min(1, acts[j] / scale) : 0;
      const special = /^\[(CLS|SEP|PAD)\]$/.test(t.text) ? " special" : "";
      html += (t.space ? " " : "") + '<span class="tok' + (j === at ? " peak" : "") + special + '" style="background:rgba(255,120,0,' +
        a.toFixed(3) + ')" title="' + esc(fmt(acts[j], 3)) + '">' + esc(t.text) + "</span>";
    });
    return html + "</span></div>";
  }

  function fillContexts(el, sae, latent, limit) {
    if (!D.contexts) { el.innerHTML = '<p class="none">no contexts: build the report with activations=</p>'; return Promise.resolve(); }
    if (latent < 0) { el.innerHTML = '<p class="none">no latent</p>'; return Promise.resolve(); }
    el.innerHTML = '<p class="none">loading…</p>';
    return contextsOf(sae, latent).then((list) => {
      const fired = D.contexts.fired[sae][latent];
      if (!list.length) { el.innerHTML = '<p class="none">never fires on the collected tokens</p>'; return; }
      const scale = list[0][0] || 1;
      el.innerHTML = '<p class="fires">fires on ' + fired.toLocaleString("en") + " tokens</p>" +
        list.slice(0, limit).map((c) => contextHtml(c, scale)).join("");
    }, (err) => { el.innerHTML = '<p class="error">' + esc(err.message) + "</p>"; });
  }

  // ---------------------------------------------------------------- histograms
  const histCache = {};
  function histogram(kind) {
    if (histCache[kind]) return histCache[kind];
    const arrays = kind === "dec" ? col.decC : col.encC;
    let lo = 0;
    for (const a of arrays) for (let i = 0; i < N; i++) lo = Math.min(lo, a[i]);
    const counts = new Uint32Array(BINS);
    const step = (1 - lo) / BINS;
    for (const a of arrays) for (let i = 0; i < N; i++) counts[Math.min(BINS - 1, Math.floor((a[i] - lo) / step))]++;
    return (histCache[kind] = { lo, step, counts });
  }

  function histogramSvg(kind, marks) {
    const h = histogram(kind);
    const W = 360, H = 140, pad = 24;
    const top = Math.max(...h.counts, 1);
    const x = (v) => pad + ((v - h.lo) / (1 - h.lo)) * (W - 2 * pad);
    let svg = '<svg class="hist" width="' + W + '" height="' + H + '" viewBox="0 0 ' + W + " " + H + '">';
    h.counts.forEach((c, b) => {
      const y = (H - pad) * (1 - Math.sqrt(c / top));  // square-root heights: the small bins stay visible beside a tall one
      svg += '<rect x="' + x(h.lo + b * h.step).toFixed(1) + '" y="' + y.toFixed(1) + '" width="' +
        Math.max(1, x(h.lo + h.step) - x(h.lo) - 1).toFixed(1) + '" height="' + (H - pad - y).toFixed(1) + '"><title>' +
        fmt(h.lo + b * h.step, 2) + "–" + fmt(h.lo + (b + 1) * h.step, 2) + ": " + c + "</title></rect>";
    });
    const t = x(S.threshold);
    svg += '<line class="threshold" x1="' + t + '" x2="' + t + '" y1="0" y2="' + (H - pad) + '"/>';
    marks.forEach((m, k) => {
      const mx = x(m.value).toFixed(1);
      svg += '<line class="mark" x1="' + mx + '" x2="' + mx + '" y1="0" y2="' + (H - pad) + '"><title>' + esc(m.label) + "</title></line>" +
        '<text class="mark-label" x="' + mx + '" y="' + (10 + 11 * k) + '">' + esc(m.short) + "</text>";
    });
    svg += '<text x="' + pad + '" y="' + (H - 6) + '">' + fmt(h.lo, 2) + '</text><text x="' + (W - pad) + '" y="' + (H - 6) +
      '" text-anchor="end">1</text><text x="' + W / 2 + '" y="' + (H - 6) + '" text-anchor="middle">matched ' +
      (kind === "dec" ? "decoder" : "encoder") + " cosine</text></svg>";
    return svg;
  }

  // ---------------------------------------------------------------- latent page
  function latentPage(i) {
    const el = $("view-latent");
    if (!(Number.isInteger(i) && i >= 0 && i < N)) {
      el.innerHTML = '<p class="error">no latent ' + esc(i) + ": " + baseName + " has latents 0.." + (N - 1) + "</p>";
      return Promise.resolve();
    }
    const st = status(i);
    const counts = rules.map((r) => '<span class="pill">' + r + ": " + col.share[r][i] + "/" + others.length + "</span>").join(" ");
    const freq = col.freq ? "fires on " + col.freq[i].toPrecision(3) + " of tokens" : "";
    let html = '<div class="latent-head"><a href="#table">← all latents</a> ' +
      (i > 0 ? '<a href="#latent=' + (i - 1) + '">‹ ' + (i - 1) + "</a> " : "") +
      (i + 1 < N ? '<a href="#latent=' + (i + 1) + '">' + (i + 1) + " ›</a>" : "") +
      "<h2>Latent " + i + " of " + esc(baseName) + ' <span class="badge ' + st.cls + '">' + st.text + "</span></h2>" +
      '<p>shared with (of the other seeds, t = ' + S.threshold + "): " + counts + " " + freq + "</p></div>";

    html += "<h3>Partners in the other seeds</h3><table class=\"partners\"><tr><th>seed</th><th>encoder partner</th><th>cos</th>" +
      "<th>decoder partner</th><th>cos</th><th>same partner</th><th>shared (" + state.rule + ")</th>" +
      (D.neighbours ? "<th>nearest by decoder</th>" : "") + "</tr>";
    others.forEach((o, k) => {
      const shared = col.shared[k][state.rule][i] ? "yes" : "no";
      const nearest = D.neighbours ? D.neighbours.others[k].index[i][0] : null;
      html += '<tr data-seed="' + o + '"><td>' + esc(name(o)) + '</td><td class="enc-partner">' + (col.encP[k][i] < 0 ? "none" : col.encP[k][i]) +
        "</td><td>" + fmt(col.encC[k][i], 3) + '</td><td class="dec-partner">' + (col.decP[k][i] < 0 ? "none" : col.decP[k][i]) +
        "</td><td>" + fmt(col.decC[k][i], 3) + "</td><td>" + (col.agree[k][i] ? "yes" : "no") + "</td><td>" + shared + "</td>" +
        (D.neighbours ? "<td>" + (nearest < 0 ? "none" : nearest + " (" + fmt(D.neighbours.others[k].cos[i][0], 3) + ")") + "</td>" : "") + "</tr>";
    });
    html += "</table>";

    const limit = D.contexts ? D.contexts.top : 0;
    html += "<h3>Top-activating contexts, beside its decoder partner in each other seed</h3><div class=\"columns\">" +
      '<div class="column" data-role="self" data-seed="' + S.base + '" data-latent="' + i + '"><h4>' + esc(baseName) + ": latent " + i +
      '</h4><div class="contexts"></div></div>';
    others.forEach((o, k) => {
      const p = col.decP[k][i];
      const encNote = col.encP[k][i] !== p && col.encP[k][i] >= 0 ? " (encoder partner " + col.encP[k][i] + ")" : "";
      html += '<div class="column" data-role="partner" data-seed="' + o + '" data-latent="' + p + '"><h4>' + esc(name(o)) + ": " +
        (p < 0 ? "no partner" : "latent " + p + " · dec cos " + fmt(col.decC[k][i], 3)) + esc(encNote) + '</h4><div class="contexts"></div></div>';
    });
    html += "</div>";

    const unshared = !col.dead[i] && col.share[state.rule][i] === 0;
    if (unshared && D.neighbours) {
      html += "<h3>Unshared: what the other seeds learnt nearest to it instead</h3><div class=\"columns\">";
      others.forEach((o, k) => {
        const idx = D.neighbours.others[k].index[i], cos = D.neighbours.others[k].cos[i];
        html += '<div class="column" data-role="instead" data-seed="' + o + '" data-latent="' + idx[0] + '"><h4>' + esc(name(o)) +
          ": nearest " + idx.filter((j) => j >= 0).slice(0, 3).map((j, r) => j + " (" + fmt(cos[r], 3) + ")").join(", ") +
          '</h4><div class="contexts"></div></div>';
      });
      html += "</div>";
    }

    html += '<div class="columns"><div class="column"><h3>Nearest latents of its own SAE</h3>';
    if (D.neighbours) {
      const idx = D.neighbours.own.index[i], cos = D.neighbours.own.cos[i];
      html += '<ol class="own">' + idx.map((j, r) => j < 0 ? "" : '<li><a href="#latent=' + j + '">latent ' + j + "</a> · decoder cos " +
        fmt(cos[r], 3) + " · " + status(j).text + "</li>").join("") + "</ol>";
    } else html += '<p class="none">no nearest latents: build the report with saes=</p>';
    html += '</div><div class="column"><h3>Where it sits among all matched cosines</h3>';
    for (const kind of ["dec", "enc"]) {
      const C = kind === "dec" ? col.decC : col.encC;
      html += histogramSvg(kind, others.map((o, k) => ({ value: C[k][i], short: "" + o, label: name(o) + ": " + fmt(C[k][i], 3) })));
    }
    html += '<p class="note">all ' + N.toLocaleString("en") + " latents × " + others.length + " other seeds; orange: this latent's cosine with each seed (labelled by SAE index); dashed: t = " + S.threshold + "; bar heights: square root of the count</p></div></div>";
    el.innerHTML = html;

    const jobs = [];
    el.querySelectorAll(".column[data-role]").forEach((c) => {
      jobs.push(fillContexts(c.querySelector(".contexts"), Number(c.dataset.seed), Number(c.dataset.latent),
                             c.dataset.role === "instead" ? Math.min(3, limit) : limit));
    });
    return Promise.all(jobs);
  }

  // ---------------------------------------------------------------- summary
  function summaryPage() {
    const el = $("view-summary");
    if (el.dataset.built) return;
    el.dataset.built = "1";
    const rows = [
      ["model", S.model], ["hook point", S.module], ["corpus", S.corpus],
      ["tokens collected", S.tokens !== null && S.tokens !== undefined ? Number(S.tokens).toLocaleString("en") : null],
      ["documents", S.documents], ["input width d", S.d],
      ["SAEs", S.saes.map((s, i) => s + ": " + S.latents[i].toLocaleString("en") + " latents" +
        (S.configs && S.configs[i] ? " (" + S.configs[i].architecture + (S.configs[i].architecture.includes("topk") ? ", k = " + S.configs[i].k : "") + ")" : "")).join("; ")],
      ["base SAE of the table", baseName], ["rule", S.rule], ["threshold t", S.threshold],
      ["largest certified optimality gap", S.largest_certified_gap],
      ["only in base (k SAEs)", Object.entries(S.only_in_base).map(([k, v]) => "k = " + k + ": " + fmt(v, 3)).join(", ")],
      ["power-law fit a·k^−b + c", S.fit ? "a = " + fmt(S.fit[0], 3) + ", b = " + fmt(S.fit[1], 3) + ", c = " + fmt(S.fit[2], 3) : "none"],
      ["fit note", S.fit_note],
    ];
    for (const [k, v] of Object.entries(S)) {
      if (!["model", "module", "corpus", "tokens", "documents", "d", "saes", "latents", "configs", "base", "rule", "threshold",
            "rules", "pairs", "largest_certified_gap", "only_in_base", "fit", "fit_note", "shared_with"].includes(k)) rows.push([k, typeof v === "object" ? JSON.stringify(v) : v]);
    }
    let html = "<h2>Run summary</h2><table class=\"kv\">" + rows.filter((r) => r[1] !== null && r[1] !== undefined)
      .map(([k, v]) => "<tr><th>" + esc(k) + "</th><td>" + esc(v) + "</td></tr>").join("") + "</table>";
    html += "<h3>Pairs</h3><table class=\"pairs\"><tr><th>pair</th>" + rules.map((r) => "<th>shared, " + r + "</th>").join("") +
      "<th>same partner</th><th>certified gap</th></tr>";
    for (const [key, p] of Object.entries(S.pairs)) {
      const [a, b] = key.split("-").map(Number);
      html += "<tr><td>" + esc(name(a) + " – " + name(b)) + "</td>" + rules.map((r) => "<td>" + pct(p[r]) + "</td>").join("") +
        "<td>" + pct(p.agreement) + "</td><td>" + p.certified_gap.toPrecision(3) + "</td></tr>";
    }
    html += "</table><h3>Latents of " + esc(baseName) + " by the number of other seeds sharing them</h3><table class=\"pairs\"><tr><th>rule</th>" +
      S.shared_with[rules[0]].map((_, m) => "<th>" + m + "</th>").join("") + "</tr>" +
      rules.map((r) => "<tr><td>" + r + "</td>" + S.shared_with[r].map((c) => "<td>" + c + "</td>").join("") + "</tr>").join("") + "</table>";
    if (D.figures.length) {
      html += "<h3>Figures</h3><div class=\"figures\">" + D.figures.map((f) => '<figure><img src="' + esc(f.file) + '" alt="' + esc(f.title) +
        '"><figcaption>' + esc(f.title) + "</figcaption></figure>").join("") + "</div>";
    }
    el.innerHTML = html;
  }

  // ---------------------------------------------------------------- routing
  const app = { updates: 0, lastUpdateMs: null, refilter, state };
  window.saematchApp = app;

  function route() {
    const hash = location.hash.replace(/^#/, "");
    const latent = /^latent=(\d+)$/.exec(hash);
    const which = latent ? "latent" : hash === "summary" ? "summary" : "table";
    for (const v of ["table", "latent", "summary"]) $("view-" + v).hidden = v !== which;
    $("nav-table").classList.toggle("active", which === "table");
    $("nav-summary").classList.toggle("active", which === "summary");
    document.body.dataset.ready = "";
    if (which === "latent") {
      window.scrollTo(0, 0);
      latentPage(Number(latent[1])).then(() => { document.body.dataset.ready = "latent"; });
    } else if (which === "summary") {
      summaryPage();
      document.body.dataset.ready = "summary";
    } else {
      drawRows(true);
      document.body.dataset.ready = "table";
    }
  }

  $("headline").textContent = baseName + " · " + N.toLocaleString("en") + " latents · " + others.length + " other seeds · " +
    S.rule + " rule, t = " + S.threshold + (S.module ? " · " + S.module : "");
  initTable();
  window.addEventListener("hashchange", route);
  route();
})();
