/* stemscribe listening report: one transport for every player, and the timelines.
 * Everything here is local: the page data comes from the JSON block, audio from report/. */
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const GUTTER = 48;        // px left of the time axis, for pitch and row labels
  const MAX_PPS = 400;      // px per second at full zoom
  const DRIFT = 0.05;       // s a player may drift from the master before it is moved back
  const TICK_STEPS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600];
  const NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
  const BLACK = [false, true, false, true, false, false, true, false, true, false, true, false];
  const $ = (sel) => document.querySelector(sel);
  const $$ = (sel) => Array.from(document.querySelectorAll(sel));
  const duration = Math.max(data.duration, 0.001);

  function fmt(t, digits) {
    const m = Math.floor(t / 60), s = t - 60 * m;
    const d = digits === undefined ? 1 : digits;
    return m + ":" + (s < 10 ? "0" : "") + s.toFixed(d);
  }
  function pitchName(k) { return NAMES[k % 12] + (Math.floor(k / 12) - 1); }

  /* ---------------- transport ---------------- */
  const tracks = $$("audio[data-track]").map((el) => ({
    id: el.dataset.track, el: el, mute: el.dataset.muted === "1", solo: false, gain: 1, lastFix: 0,
    soloButtons: $$('[data-solo="' + el.dataset.track + '"]'),
    muteButtons: $$('[data-mute="' + el.dataset.track + '"]'),
    row: document.querySelector('tr[data-row="' + el.dataset.track + '"]'),
  }));
  const byId = new Map(tracks.map((t) => [t.id, t]));
  const master = byId.get("mix") || tracks[0] || null;
  const playBtn = $("#play"), seekEl = $("#seek"), timeEl = $("#time"), statusEl = $("#status");
  let playing = false, position = 0, dragging = false;
  seekEl.max = String(duration);
  if (!master) { playBtn.disabled = true; }

  function audible(t) { return tracks.some((u) => u.solo) ? t.solo : !t.mute; }
  function applyMix() {
    for (const t of tracks) {
      const on = audible(t);
      t.el.muted = !on;
      t.el.volume = t.gain;
      t.soloButtons.forEach((b) => b.setAttribute("aria-pressed", String(t.solo)));
      t.muteButtons.forEach((b) => b.setAttribute("aria-pressed", String(t.mute)));
      if (t.row) { t.row.classList.toggle("audible", on); t.row.classList.toggle("inaudible", !on); }
    }
  }
  function now() { return master ? master.el.currentTime : position; }
  function seek(t) {
    position = Math.min(Math.max(t, 0), duration);
    for (const u of tracks) { u.el.currentTime = position; }
    updateClock(position);
  }
  function setPlaying(on) {
    playing = on;
    playBtn.classList.toggle("playing", on);
    playBtn.innerHTML = on ? "&#10074;&#10074;" : "&#9654;";
    playBtn.setAttribute("aria-label", on ? "Pause" : "Play");
  }
  function play() {
    if (!master || playing) { return; }
    const t0 = master.el.currentTime;
    for (const u of tracks) { if (Math.abs(u.el.currentTime - t0) > 0.01) { u.el.currentTime = t0; } }
    setPlaying(true);
    Promise.allSettled(tracks.map((u) => u.el.play())).then((res) => {
      const bad = res.filter((r) => r.status === "rejected" && r.reason && r.reason.name !== "AbortError");
      if (bad.length) { statusEl.textContent = bad.length + " track(s) could not play: " + bad[0].reason.message; }
    });
    requestAnimationFrame(tick);
  }
  function pause() {
    for (const u of tracks) { u.el.pause(); }
    setPlaying(false);
    if (master) { seek(master.el.currentTime); }
  }
  function tick(ts) {
    if (!playing) { return; }
    const t = master.el.currentTime;
    for (const u of tracks) {
      if (u === master || u.el.seeking || u.el.ended) { continue; }
      if (Math.abs(u.el.currentTime - t) > DRIFT && ts - u.lastFix > 500) { u.el.currentTime = t; u.lastFix = ts; }
    }
    updateClock(t);
    requestAnimationFrame(tick);
  }

  playBtn.addEventListener("click", () => (playing ? pause() : play()));
  if (master) { master.el.addEventListener("ended", () => { pause(); seek(0); }); }
  seekEl.addEventListener("input", () => { dragging = true; seek(parseFloat(seekEl.value)); });
  seekEl.addEventListener("change", () => { dragging = false; });
  $("#clear-solo").addEventListener("click", () => { tracks.forEach((t) => { t.solo = false; }); applyMix(); });
  $$("button[data-solo]").forEach((b) => b.addEventListener("click", () => {
    const t = byId.get(b.dataset.solo); t.solo = !t.solo; applyMix();
  }));
  $$("button[data-mute]").forEach((b) => b.addEventListener("click", () => {
    const t = byId.get(b.dataset.mute); t.mute = !t.mute; applyMix();
  }));
  $$("input[data-gain]").forEach((s) => s.addEventListener("input", () => {
    byId.get(s.dataset.gain).gain = parseFloat(s.value); applyMix();
  }));
  document.addEventListener("keydown", (e) => {
    const tag = e.target && e.target.tagName;
    if (tag === "BUTTON" || (tag === "INPUT" && e.target.type !== "range")) { return; }
    if (e.code === "Space") { e.preventDefault(); if (playing) { pause(); } else { play(); } }
    else if (e.code === "ArrowLeft" && tag !== "INPUT") { seek(now() - 5); }
    else if (e.code === "ArrowRight" && tag !== "INPUT") { seek(now() + 5); }
    else if (e.code === "Home") { seek(0); }
  });

  let loaded = 0;
  for (const u of tracks) {
    const done = () => { loaded += 1; statusEl.textContent = loaded < tracks.length ? "loading audio " + loaded + "/" + tracks.length : ""; };
    if (u.el.readyState >= 1) { done(); } else { u.el.addEventListener("loadedmetadata", done, { once: true }); }
    u.el.addEventListener("error", () => {
      statusEl.textContent = "could not load " + u.el.getAttribute("src");
      if (u.row) { u.row.classList.add("error"); }
    });
  }
  if (tracks.length && loaded < tracks.length) { statusEl.textContent = "loading audio " + loaded + "/" + tracks.length; }

  /* ---------------- timeline ---------------- */
  const scroller = $("#tl-scroll"), content = $("#tl-content"), view = $("#tl-view");
  const ruler = $("#ruler"), playhead = $("#playhead"), zoomEl = $("#zoom"), followEl = $("#follow");
  let pps = 1, viewW = 600, plotW = 552, t0 = 0;

  const lanes = [];
  for (const canvas of $$("canvas.roll, canvas.act")) {
    const c = data.classes[parseInt(canvas.dataset["class"], 10)];
    const hover = document.querySelector('[data-hover="' + canvas.dataset["class"] + '"]');
    const lane = { canvas: canvas, cls: c, hover: hover, kind: canvas.classList.contains("roll") ? "roll" : "act" };
    if (lane.kind === "roll") { Object.assign(lane, rollGeometry(c)); } else { lane.height = 30; }
    lanes.push(lane);
  }

  function rollGeometry(c) {
    if (c.drum) { return { lo: 0, hi: data.drumRows.length - 1, rowH: 14, height: 14 * data.drumRows.length }; }
    let lo = Infinity, hi = -Infinity;
    for (const n of c.notes.concat(c.reference || [])) { lo = Math.min(lo, n[0]); hi = Math.max(hi, n[0]); }
    if (!isFinite(lo)) { lo = 60; hi = 72; }
    lo -= 1; hi += 1;
    while (hi - lo + 1 < 13) { lo -= 1; hi += 1; }
    lo = Math.max(0, lo); hi = Math.min(127, hi);
    const rowH = Math.max(3, Math.min(10, Math.floor(220 / (hi - lo + 1))));
    return { lo: lo, hi: hi, rowH: rowH, height: rowH * (hi - lo + 1) };
  }

  function xOf(t) { return GUTTER + (t - t0) * pps; }
  function tickStep() { return TICK_STEPS.find((s) => s * pps >= 70) || TICK_STEPS[TICK_STEPS.length - 1]; }
  function sized(canvas, h) {
    const dpr = window.devicePixelRatio || 1;
    canvas.style.width = viewW + "px"; canvas.style.height = h + "px";
    canvas.width = Math.round(viewW * dpr); canvas.height = Math.round(h * dpr);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, viewW, h);
    return ctx;
  }
  function grid(ctx, h) {
    const step = tickStep();
    ctx.fillStyle = "#e6e9ef";
    for (let t = Math.ceil(t0 / step) * step; t <= t0 + plotW / pps; t += step) { ctx.fillRect(Math.round(xOf(t)), 0, 1, h); }
  }
  function gutter(ctx, h) {
    ctx.fillStyle = "#fafbfc"; ctx.fillRect(0, 0, GUTTER, h);
    ctx.fillStyle = "#dfe3ea"; ctx.fillRect(GUTTER - 1, 0, 1, h);
  }

  function drawRuler() {
    const h = 24, ctx = sized(ruler, h), step = tickStep();
    gutter(ctx, h);
    ctx.fillStyle = "#6b7385"; ctx.font = "11px system-ui, sans-serif"; ctx.textBaseline = "middle";
    ctx.fillText("time", 8, h / 2);
    for (let t = Math.ceil(t0 / step) * step; t <= t0 + plotW / pps + 1e-9; t += step) {
      const x = Math.round(xOf(t));
      ctx.fillRect(x, h - 6, 1, 6);
      ctx.fillText(fmt(t, step < 1 ? 1 : 0), x + 3, h / 2 - 2);
    }
  }

  function drawRoll(lane) {
    const c = lane.cls, h = lane.height, ctx = sized(lane.canvas, h), rowH = lane.rowH;
    const t1 = t0 + plotW / pps, yOf = (k) => (lane.hi - k) * rowH;
    for (let k = lane.lo; k <= lane.hi; k++) {
      if (!c.drum && BLACK[k % 12]) { ctx.fillStyle = "#f1f3f7"; ctx.fillRect(GUTTER, yOf(k), viewW, rowH); }
      if (c.drum || k % 12 === 0) { ctx.fillStyle = "#e3e7ee"; ctx.fillRect(GUTTER, yOf(k) + rowH - 1, viewW, 1); }
    }
    grid(ctx, h);
    ctx.save();
    ctx.beginPath(); ctx.rect(GUTTER, 0, viewW - GUTTER, h); ctx.clip();
    ctx.fillStyle = c.color;
    for (const n of c.notes) {
      if (n[2] < t0 || n[1] > t1 || n[0] < lane.lo || n[0] > lane.hi) { continue; }
      const x0 = xOf(n[1]), w = Math.max(2, (n[2] - n[1]) * pps);
      ctx.globalAlpha = 0.35 + 0.65 * Math.min(1, n[3] / 127);
      ctx.fillRect(x0, yOf(n[0]) + 0.5, w, Math.max(1, rowH - 1));
    }
    ctx.globalAlpha = 1;
    if (c.reference) {
      // A white halo under a dark outline keeps reference notes visible over dense estimates.
      for (const [colour, width] of [["rgba(255,255,255,0.9)", 3], ["#111722", 1.25]]) {
        ctx.strokeStyle = colour; ctx.lineWidth = width;
        for (const n of c.reference) {
          if (n[2] < t0 || n[1] > t1 || n[0] < lane.lo || n[0] > lane.hi) { continue; }
          const x0 = xOf(n[1]), w = Math.max(3, (n[2] - n[1]) * pps);
          ctx.strokeRect(Math.round(x0) + 0.5, yOf(n[0]) + 0.5, Math.round(w) - 1, Math.max(1, rowH - 1));
        }
      }
    }
    ctx.restore();
    gutter(ctx, h);
    ctx.fillStyle = "#6b7385"; ctx.font = "10px system-ui, sans-serif"; ctx.textBaseline = "middle";
    const labelY = (k) => Math.min(h - 6, Math.max(6, yOf(k) + rowH / 2));   // keep edge labels whole
    for (let k = lane.lo; k <= lane.hi; k++) {
      if (c.drum) { ctx.fillText(data.drumRows[k], 4, labelY(k)); }
      else if (k % 12 === 0) { ctx.fillText(pitchName(k), 6, labelY(k)); }
    }
  }

  function drawActivity(lane) {
    const a = lane.cls.activity, h = lane.height, ctx = sized(lane.canvas, h);
    const base = h - 5, span = h - 9, yOf = (p) => base - p * span;
    grid(ctx, h);
    ctx.fillStyle = lane.cls.color;
    for (const s of a.segments) {
      if (s[1] < t0 || s[0] > t0 + plotW / pps) { continue; }
      const x0 = Math.max(GUTTER, xOf(s[0])), x1 = xOf(s[1]);
      ctx.fillRect(x0, h - 4, Math.max(1, x1 - x0), 3);
    }
    ctx.beginPath(); ctx.moveTo(GUTTER, base);
    for (let px = 0; px <= plotW; px++) {
      const ta = t0 + px / pps, i0 = Math.floor(ta * a.rate), i1 = Math.max(i0 + 1, Math.ceil((ta + 1 / pps) * a.rate));
      let v = 0;
      for (let i = Math.max(0, i0); i < Math.min(i1, a.prob.length); i++) { v = Math.max(v, a.prob[i]); }
      ctx.lineTo(GUTTER + px, yOf(v));
    }
    ctx.lineTo(GUTTER + plotW, base); ctx.closePath();
    ctx.globalAlpha = 0.3; ctx.fill(); ctx.globalAlpha = 1;
    ctx.strokeStyle = lane.cls.color; ctx.lineWidth = 1; ctx.stroke();
    ctx.setLineDash([4, 3]); ctx.strokeStyle = "#6b7385";
    ctx.beginPath(); ctx.moveTo(GUTTER, yOf(a.threshold) + 0.5); ctx.lineTo(viewW, yOf(a.threshold) + 0.5); ctx.stroke();
    ctx.setLineDash([]);
    gutter(ctx, h);
    ctx.fillStyle = "#6b7385"; ctx.font = "10px system-ui, sans-serif"; ctx.textBaseline = "middle";
    ctx.fillText("activity", 4, h / 2);
  }

  function draw() {
    drawRuler();
    for (const lane of lanes) { if (lane.kind === "roll") { drawRoll(lane); } else { drawActivity(lane); } }
    updateClock(now());
  }

  function layout(anchor) {
    const keep = anchor === undefined ? t0 + plotW / (2 * pps) : anchor;
    const keepX = (keep - t0) * pps;
    viewW = Math.max(GUTTER + 100, scroller.clientWidth);
    plotW = viewW - GUTTER;
    const fit = plotW / duration, top = Math.max(fit, MAX_PPS);
    pps = fit * Math.pow(top / fit, parseFloat(zoomEl.value));
    content.style.width = (GUTTER + duration * pps) + "px";
    view.style.width = viewW + "px";
    scroller.scrollLeft = Math.max(0, keep * pps - (anchor === undefined ? plotW / 2 : keepX));
    t0 = scroller.scrollLeft / pps;
    draw();
  }

  function updateClock(t) {
    timeEl.textContent = fmt(t);
    if (!dragging) { seekEl.value = String(t); }
    const x = xOf(t);
    if (x < GUTTER || x > viewW) {
      if (playing && followEl.checked && duration * pps > plotW + 1) {
        scroller.scrollLeft = Math.max(0, (t - 0.1 * plotW / pps) * pps);
      }
      playhead.style.display = "none";
      return;
    }
    playhead.style.display = "block";
    playhead.style.left = x + "px";
  }

  let pending = false;
  scroller.addEventListener("scroll", () => {
    if (pending) { return; }
    pending = true;
    requestAnimationFrame(() => { pending = false; t0 = scroller.scrollLeft / pps; draw(); });
  });
  zoomEl.addEventListener("input", () => {
    const t = now(), x = xOf(t);
    layout(x >= GUTTER && x <= viewW ? t : undefined);
  });
  window.addEventListener("resize", () => layout());

  function timeAt(e, canvas) {
    const r = canvas.getBoundingClientRect(), x = e.clientX - r.left;
    return x < GUTTER ? null : t0 + (x - GUTTER) / pps;
  }
  for (const canvas of [ruler].concat(lanes.map((l) => l.canvas))) {
    canvas.addEventListener("click", (e) => { const t = timeAt(e, canvas); if (t !== null) { seek(t); } });
  }
  for (const lane of lanes) {
    if (!lane.hover) { continue; }
    lane.canvas.addEventListener("mousemove", (e) => {
      const t = timeAt(e, lane.canvas);
      if (t === null) { lane.hover.textContent = ""; return; }
      let text = t.toFixed(2) + " s";
      if (lane.kind === "roll") {
        const y = e.clientY - lane.canvas.getBoundingClientRect().top;
        const k = lane.hi - Math.floor(y / lane.rowH);
        text += " · " + (lane.cls.drum ? data.drumRows[k] : pitchName(k) + " (" + k + ")");
      } else {
        const a = lane.cls.activity, i = Math.min(a.prob.length - 1, Math.max(0, Math.floor(t * a.rate)));
        text += " · activity " + (a.prob.length ? a.prob[i].toFixed(2) : "–");
      }
      lane.hover.textContent = text;
    });
    lane.canvas.addEventListener("mouseleave", () => { lane.hover.textContent = ""; });
  }

  applyMix();
  layout();
  window.stemscribeReport = { tracks: tracks, play: play, pause: pause, seek: seek, now: now, lanes: lanes };
})();
