// The pressure beside the heatmap: P(t) from the result's /processed/pressure (merge's online stage or `anvil pressure`),
// drawn on the heatmap's own frame axis (frames top to bottom, the same rows), with ±1σ bars, and the fitted marker
// position marked on every heatmap row. Reads the console's state (window.anvil) and draws through its hooks;
// shown when the result file has a pressure group or, while the acquisition runs, merge's online stage has one.
'use strict';

const AnvilPressure = (() => {
  const M = { left: 8, right: 54, top: 12, bottom: 44 }; // top and bottom as the heatmap's, so rows line up
  const P = { acq: null, file: null, data: null, error: null, busy: false, fetches: 0, renders: 0, fetchedAt: 0 };
  let canvas = null;

  function setup() {
    const heatmap = document.getElementById('heatmap');
    const row = document.createElement('div');
    row.id = 'heatrow';
    row.style.display = 'flex';
    row.style.gap = '6px';
    row.style.alignItems = 'flex-start';
    heatmap.parentNode.insertBefore(row, heatmap);
    row.appendChild(heatmap);
    heatmap.style.flex = '1 1 0';
    heatmap.style.minWidth = '0';
    canvas = document.createElement('canvas');
    canvas.id = 'pressure';
    canvas.width = 300;
    canvas.height = heatmap.height;
    canvas.style.width = '300px';
    canvas.style.flex = 'none';
    canvas.title = 'P(t) of the marker reflection (/processed/pressure): ±1σ bars; flagged frames are gaps';
    canvas.hidden = true;
    row.appendChild(canvas);
    setInterval(poll, 500);
  }

  // A finished acquisition's pressure is read once from its result file; one still running is read again every
  // second from merge's online stage (the frames tracked so far), so P(t) grows with the heatmap.
  async function poll() {
    const S = window.anvil;
    const file = S && S.detail ? S.detail.resultFile : null;
    const live = !!(S && S.acq && S.detail && !file);
    const changed = S && (S.acq !== P.acq || file !== P.file);
    if (!S || P.busy || (!changed && !(live && Date.now() - P.fetchedAt >= 1000))) return;
    P.busy = true;
    const acq = S.acq;
    try {
      if (changed) { P.acq = acq; P.file = file; P.data = null; P.error = null; }
      if (acq && (file || live)) {
        P.fetches++;
        P.fetchedAt = Date.now();
        const response = await fetch(`/api/acquisitions/${encodeURIComponent(acq)}/pressure`);
        if (acq !== window.anvil.acq) return;
        if (response.ok) { P.data = await response.json(); P.error = null; }
        else if (!P.data || response.status === 404) { P.data = null; P.error = (await response.json().catch(() => ({}))).detail || `HTTP ${response.status}`; }
      }
    } catch (e) {
      P.error = e.message;
    } finally {
      P.busy = false;
    }
    const show = !!P.data;
    if (canvas.hidden === show) {
      canvas.hidden = !show;
      window.dispatchEvent(new Event('resize')); // the heatmap gives or takes the room
    } else if (show) {
      render();
    }
  }

  // 2θ (degrees) → the heatmap's unit.
  function toUnit(tth, unit, wavelength) {
    if (unit === '2th_deg') return tth;
    if (!wavelength) return NaN;
    const s = Math.sin(tth * Math.PI / 360);
    if (unit === 'q_A^-1') return 4 * Math.PI * s / wavelength;
    if (unit === 'q_nm^-1') return 40 * Math.PI * s / wavelength;
    if (unit === 'd_A') return wavelength / (2 * s);
    return NaN;
  }

  // Called by the heatmap inside its plot area: a dot at the fitted marker position on every row in view.
  function drawOnHeatmap(p, v) {
    const d = P.data;
    if (!d || window.anvil.acq !== P.acq) return;
    const rows = v.f1 - v.f0 + 1;
    const size = Math.max(1.5, Math.min(3, v.ph / rows));
    for (let f = v.f0; f <= v.f1; f++) {
      const i = f - 1;
      if (i < 0 || i >= d.position.length || d.position[i] == null) continue;
      const x = v.x(toUnit(d.position[i], v.unit, v.wavelength));
      if (Number.isFinite(x)) p.rect(x - size / 2, v.fy(f) - size / 2, size, size, '#ff00ff');
    }
  }

  function render() {
    const S = window.anvil;
    const d = P.data;
    if (!canvas || canvas.hidden || !d || !S) return;
    const heatmap = document.getElementById('heatmap');
    if (canvas.height !== heatmap.height) canvas.height = heatmap.height;
    const p = Plot.canvasPainter(canvas);
    const W = canvas.width, H = canvas.height, pw = W - M.left - M.right, ph = H - M.top - M.bottom;
    p.clear('#ffffff');
    const frames = S.detail ? S.detail.frames : d.frame.length;
    const f0 = S.f0 ?? 1, f1 = Math.min(S.f1 ?? frames, frames);
    const rows = f1 - f0 + 1;
    const fy = f => M.top + (f - f0 + 0.5) / rows * ph;
    let lo = Infinity, hi = -Infinity;
    for (let f = f0; f <= f1; f++) {
      const P0 = d.pressure[f - 1], e = d.pressureError[f - 1] || 0;
      if (P0 == null) continue;
      lo = Math.min(lo, P0 - e); hi = Math.max(hi, P0 + e);
    }
    if (!Number.isFinite(lo)) { lo = 0; hi = 1; }
    const pad = Math.max(0.05 * (hi - lo), 0.05);
    lo -= pad; hi += pad;
    const px = v => M.left + (v - lo) / (hi - lo) * pw;
    p.rect(M.left, M.top, pw, ph, null, '#5a6572');
    for (const t of Plot.ticks(lo, hi, Math.max(3, Math.floor(pw / 45)))) {
      const x = px(t);
      p.line(x, M.top, x, M.top + ph, '#eceef1');
      p.line(x, M.top + ph, x, M.top + ph + 5, '#1d232a');
      p.text(x, M.top + ph + 7, Plot.format(t), { align: 'center', baseline: 'top', size: 11 });
    }
    p.text(M.left + pw / 2, H - 6, `P (GPa), ${d.marker} ${d.hkl}${d.live ? ` · live, ${d.frame.length} frames` : ''}`, { align: 'center', size: 12 });
    // Right axis: time (frame_time is linear in the frame: (frame - 1) × period), else frame numbers.
    const known = d.time.map((t, i) => [i + 1, t]).filter(([, t]) => t != null);
    const timed = known.length >= 2;
    if (timed) {
      const [[fa, ta], [fb, tb]] = [known[0], known[known.length - 1]];
      const period = (tb - ta) / (fb - fa), at = f => ta + (f - fa) * period;
      const frameOf = t => fa + (t - ta) / period;
      for (const t of Plot.ticks(at(f0), at(f1), Math.max(2, Math.floor(ph / 40)))) {
        const y = fy(frameOf(t));
        p.line(M.left + pw, y, M.left + pw + 5, y, '#1d232a');
        p.text(M.left + pw + 7, y, Plot.format(t), { baseline: 'middle', size: 11 });
      }
    } else {
      for (const f of Plot.ticks(f0, f1, Math.max(2, Math.floor(ph / 40))).filter(f => Number.isInteger(f))) {
        p.line(M.left + pw, fy(f), M.left + pw + 5, fy(f), '#1d232a');
        p.text(M.left + pw + 7, fy(f), String(f), { baseline: 'middle', size: 11 });
      }
    }
    p.text(W - 8, M.top + ph / 2, timed ? 't (s)' : 'frame', { align: 'center', baseline: 'middle', rotate: Math.PI / 2, size: 12 });
    p.clip(M.left, M.top, pw, ph, () => {
      const points = [];
      for (let f = f0; f <= f1; f++) {
        const v = d.pressure[f - 1];
        if (v == null) { points.push([NaN, NaN]); continue; }
        const e = d.pressureError[f - 1] || 0, y = fy(f);
        if (px(v + e) - px(v - e) > 1) p.line(px(v - e), y, px(v + e), y, '#9db4cf');
        points.push([px(v), y]);
      }
      p.polyline(points, '#1f77b4', 1.5);
      if (S.selected >= f0 && S.selected <= f1) p.line(M.left, fy(S.selected), M.left + pw, fy(S.selected), '#ff3b30', 1.5);
    });
    // The selected frame's reading.
    const i = S.selected - 1;
    const text = i >= 0 && i < d.pressure.length
      ? (d.pressure[i] != null
        ? `#${S.selected}: ${d.pressure[i].toFixed(2)} ± ${d.pressureError[i].toFixed(2)} GPa`
        : `#${S.selected}: no pressure (${d.reason[i]})`)
      : '';
    p.rect(M.left + 1, M.top + 1, pw - 2, 16, 'rgba(255,255,255,0.85)');
    p.text(M.left + 4, M.top + 13, text.length > 48 ? text.slice(0, 47) + '…' : text, { size: 11 });
    P.renders++;
  }

  document.addEventListener('DOMContentLoaded', setup);
  if (document.readyState !== 'loading') setup();
  return { drawOnHeatmap, render, state: P };
})();
window.AnvilPressure = AnvilPressure;
